/**
 * Process-wide gauges other modules register for `/metrics` (the log
 * pipeline's queue depth and spill size, …): a name, a help text and a
 * function read at every scrape. The function must be cheap, synchronous
 * and must not throw (a throwing one reports NaN).
 */
import { Gauge, Registry } from 'prom-client';

/** The registry of `registerGauge`; every app's `/metrics` includes it. */
export const sharedRegistry = new Registry();

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/**
 * Registers (or replaces, when the name is taken) a gauge read from `read()` at every scrape.
 * Returns a function that unregisters it. Names follow Prometheus rules (`sluice_log_queue_depth`).
 */
export function registerGauge(name: string, help: string, read: () => number): () => void {
  if (!NAME.test(name)) throw new RangeError(`invalid metric name "${name}"`);
  sharedRegistry.removeSingleMetric(name);
  const gauge = new Gauge({
    name,
    help,
    registers: [sharedRegistry],
    collect() {
      let value: number;
      try {
        value = read();
      } catch {
        value = Number.NaN;
      }
      this.set(value);
    },
  });
  return () => {
    if (sharedRegistry.getSingleMetric(name) === gauge) sharedRegistry.removeSingleMetric(name);
  };
}
