/**
 * Human-readable renderings of a plan and of an apply result, one line per
 * resource: `+` create, `~` update (with the changed fields), `-` delete,
 * `=` unchanged.
 */
import type { ApplyResult } from './apply.js';
import { KIND_LABEL, type Action, type Change, type Plan } from './plan.js';

const SIGN: Record<Action, string> = { create: '+', update: '~', delete: '-', unchanged: '=' };

function line(c: Change): string[] {
  const fields = c.action === 'update' ? ` (${c.fields.join(', ')})` : '';
  return [`${SIGN[c.action]} ${KIND_LABEL[c.kind]} ${c.address}${fields}`, ...c.notes.map((n) => `    ${n}`)];
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The plan as text: one line per resource, the problems, then a summary line. */
export function formatPlan(plan: Plan): string {
  const out = plan.changes.flatMap(line);
  const count = (a: Action): number => plan.changes.filter((c) => c.action === a).length;
  if (plan.problems.length > 0) {
    out.push(`${plural(plan.problems.length, 'problem')}; this plan cannot be applied:`, ...plan.problems.map((p) => `  ${p}`));
  }
  const writes = count('create') + count('update') + count('delete');
  out.push(
    writes === 0
      ? `No changes: ${plural(count('unchanged'), 'resource')} up to date.`
      : `Plan: ${count('create')} to create, ${count('update')} to update, ${count('delete')} to delete, ${count('unchanged')} unchanged.`,
  );
  return out.join('\n');
}

/** The outcome of an apply as text: the writes made, the failure if any, and generated secrets to store now. */
export function formatResult(result: ApplyResult): string {
  const out = result.applied.flatMap(line);
  if (result.failure) {
    out.push(`failed: ${result.failure.message}`);
    out.push(`Applied ${plural(result.applied.length, 'change')} before stopping; ${result.skipped} not attempted.`);
  } else {
    out.push(result.applied.length === 0 ? 'Nothing to change.' : `Applied ${plural(result.applied.length, 'change')}.`);
  }
  for (const s of result.secrets) {
    out.push(`API key ${s.address} secret (shown only now, store it): ${s.secret}`);
  }
  return out.join('\n');
}
