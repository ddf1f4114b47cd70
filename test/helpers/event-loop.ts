/**
 * Counts turns of the event loop (a chain of `setImmediate` callbacks) while
 * code under test runs: a synchronous stretch of work shows as no turns.
 */
export interface TurnCounter {
  /** Turns completed so far. */
  readonly turns: number;
  stop(): void;
}

export function countEventLoopTurns(): TurnCounter {
  let turns = 0;
  let ticking = true;
  const tick = () => {
    turns++;
    if (ticking) setImmediate(tick);
  };
  setImmediate(tick);
  return {
    get turns() {
      return turns;
    },
    stop() {
      ticking = false;
    },
  };
}
