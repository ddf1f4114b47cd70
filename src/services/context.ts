/**
 * Who is calling the control plane, and the access rules every service applies.
 * Resources of another workspace are reported as `not_found` when addressed by
 * id (their existence is not revealed) and as `permission_denied` when a
 * request names the foreign workspace explicitly.
 */
import { SluiceError } from '../errors.js';

/** The authenticated caller of a control-plane RPC. */
export type Principal =
  | { kind: 'root'; tokenId: string }
  | { kind: 'workspace'; tokenId: string; workspaceId: string };

/** Per-call context passed to every service method, whatever the transport. */
export interface CallContext {
  principal: Principal;
}

/** Throws `permission_denied` unless the caller holds the root token. */
export function requireRoot(call: CallContext, action: string): void {
  if (call.principal.kind !== 'root') {
    throw new SluiceError('permission_denied', `${action} needs the root admin token`);
  }
}

/** Whether the caller may see resources of `workspaceId`. */
export function canAccess(call: CallContext, workspaceId: string): boolean {
  return call.principal.kind === 'root' || call.principal.workspaceId === workspaceId;
}

/**
 * The workspace a request addresses: the one it names (checked against the
 * caller), or the caller's own workspace when it names none. Root callers must
 * name one.
 */
export function resolveWorkspaceId(call: CallContext, requested: string, field: string): string {
  if (requested) {
    if (!canAccess(call, requested)) {
      throw new SluiceError('permission_denied', `${field}: this token cannot access workspace "${requested}"`);
    }
    return requested;
  }
  if (call.principal.kind === 'workspace') return call.principal.workspaceId;
  throw SluiceError.invalid([{ field, description: 'required', reason: 'REQUIRED' }]);
}

/** Returns `row` if the caller may see it, else throws `not_found` for `what`/`id`. */
export function visibleOr404<T extends { workspaceId: string }>(call: CallContext, row: T | null, what: string, id: string): T {
  if (!row || !canAccess(call, row.workspaceId)) throw SluiceError.notFound(what, id);
  return row;
}
