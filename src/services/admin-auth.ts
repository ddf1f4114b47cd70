/**
 * Authentication of control-plane callers and the root admin token's lifecycle.
 */
import { AdminTokenEntity } from '../db/entities.js';
import { SluiceError } from '../errors.js';
import { generateSecret, hashSecret, newId, publicPrefix, secretMatches } from '../security/tokens.js';
import type { Principal } from './context.js';
import { read, type ServiceDeps } from './store.js';

/**
 * Resolves a bearer secret to its principal. Missing, unknown, revoked or
 * expired tokens → `unauthenticated`, and so does a workspace token whose
 * workspace is gone.
 */
export async function authenticateAdmin(deps: ServiceDeps, bearer: string | undefined): Promise<Principal> {
  if (!bearer) throw new SluiceError('unauthenticated', 'missing admin token: send "Authorization: Bearer <token>"');
  const hash = hashSecret(bearer);
  const row = await read(deps, (em) => em.findOne(AdminTokenEntity, { hash }));
  const now = Date.now();
  if (!row || !secretMatches(bearer, row.hash) || row.revokedAt || (row.expiresAt && row.expiresAt.getTime() <= now)) {
    throw new SluiceError('unauthenticated', 'invalid, revoked or expired admin token');
  }
  return row.workspaceId ? { kind: 'workspace', tokenId: row.id, workspaceId: row.workspaceId } : { kind: 'root', tokenId: row.id };
}

/** Extracts the token from an `Authorization: Bearer …` header value. */
export function bearerFrom(header: string | null | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

/**
 * Makes sure a root token exists. With `fromEnv` (SLUICE_ADMIN_TOKEN) the
 * stored root token becomes exactly that one; otherwise a token is generated
 * the first time only. Returns the plaintext only when it was generated now.
 */
export async function ensureRootToken(deps: ServiceDeps, fromEnv: string | undefined): Promise<{ generated?: string }> {
  return deps.orm.em.fork().transactional(async (em) => {
    const roots = await em.find(AdminTokenEntity, { workspaceId: null, revokedAt: null });
    if (fromEnv) {
      if (fromEnv.length < 16) throw new SluiceError('invalid_argument', 'SLUICE_ADMIN_TOKEN must be at least 16 characters');
      const hash = hashSecret(fromEnv);
      for (const r of roots) if (r.hash !== hash) r.revokedAt = new Date();
      if (!roots.some((r) => r.hash === hash)) {
        em.create(AdminTokenEntity, { id: newId('rt'), workspaceId: null, name: 'root', prefix: publicPrefix(fromEnv), hash, expiresAt: null, revokedAt: null });
      }
      return {};
    }
    if (roots.length > 0) return {};
    const secret = generateSecret('rootToken');
    em.create(AdminTokenEntity, { id: newId('rt'), workspaceId: null, name: 'root', prefix: publicPrefix(secret), hash: hashSecret(secret), expiresAt: null, revokedAt: null });
    return { generated: secret };
  });
}
