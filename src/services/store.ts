/**
 * What every service needs from storage: a fresh entity manager per call,
 * transactions that bump the config version, keyset pages, and the mapping of
 * database constraint errors onto the error taxonomy.
 */
import { UniqueConstraintViolationException, type EntityManager, type EntityName, type FilterQuery } from '@mikro-orm/core';
import { timestampFromDate, type Timestamp } from '@bufbuild/protobuf/wkt';
import { ConfigStateEntity } from '../db/entities.js';
import { dialectOf, type Orm } from '../db/orm.js';
import { SluiceError } from '../errors.js';
import type { CounterStore } from '../policy/counters/types.js';
import type { SecretBox } from '../security/secret-box.js';
import { decodeCursor, encodeCursor, pageSize } from './pagination.js';

/**
 * PostgreSQL channel on which every committed config mutation is announced
 * (payload: the new version as decimal text), so that every replica's snapshot
 * store rebuilds at once (`src/config/pg-listener.ts`).
 */
export const CONFIG_CHANNEL = 'sluice_config';

/** Dependencies shared by all services; built once per process. */
export interface ServiceDeps {
  orm: Orm;
  secrets: SecretBox;
  /** Called after every committed config mutation with the new version. */
  onConfigChange?: (version: bigint) => void;
  /** The rate and spend counters the data plane uses, read by the usage RPCs (absent: they answer `unavailable`). */
  counters?: CounterStore;
  /** Clock (epoch ms) for the usage RPCs' spend periods, the one the limit stages use; default `Date.now`. */
  now?: () => number;
}

/** Runs `fn` on a fresh entity manager without a transaction. */
export async function read<T>(deps: ServiceDeps, fn: (em: EntityManager) => Promise<T>): Promise<T> {
  return fn(deps.orm.em.fork());
}

/**
 * Runs a config mutation in one transaction and bumps the config version in
 * the same transaction, so replicas can never see the change without the bump.
 * On PostgreSQL the same transaction sends `NOTIFY sluice_config, '<version>'`:
 * PostgreSQL delivers it to the listening replicas only once the transaction
 * commits, and never for a rolled-back one.
 */
export async function mutate<T>(deps: ServiceDeps, fn: (em: EntityManager) => Promise<T>): Promise<T> {
  let version = 0n;
  let result: T;
  try {
    result = await deps.orm.em.fork().transactional(async (em) => {
      const out = await fn(em);
      await em.flush();
      version = await bumpConfigVersion(em);
      if (dialectOf(deps.orm) === 'postgresql') {
        await em.getConnection().execute('select pg_notify(?, ?)', [CONFIG_CHANNEL, version.toString()], 'run', em.getTransactionContext());
      }
      return out;
    });
  } catch (err) {
    if (err instanceof UniqueConstraintViolationException) {
      throw new SluiceError('already_exists', 'a resource with this name already exists', { cause: err });
    }
    throw err;
  }
  deps.onConfigChange?.(version);
  return result;
}

async function bumpConfigVersion(em: EntityManager): Promise<bigint> {
  const state = await em.findOne(ConfigStateEntity, { id: 1 });
  if (state) {
    state.version = BigInt(state.version) + 1n;
    await em.flush();
    return state.version;
  }
  em.create(ConfigStateEntity, { id: 1, version: 1n });
  await em.flush();
  return 1n;
}

/** The current config version (0 before the first mutation). */
export async function configVersion(deps: ServiceDeps): Promise<bigint> {
  const state = await deps.orm.em.fork().findOne(ConfigStateEntity, { id: 1 });
  return state ? BigInt(state.version) : 0n;
}

/** One page of rows ordered by id, and the token of the next page. */
export async function listById<T extends { id: string }>(
  em: EntityManager,
  entity: EntityName<T>,
  where: FilterQuery<T>,
  request: { pageSize: number; pageToken: string },
  method: string,
): Promise<{ rows: T[]; nextPageToken: string }> {
  const size = pageSize(request.pageSize);
  const cursor = decodeCursor(request.pageToken, method);
  const filter = (cursor?.after ? { $and: [where, { id: { $gt: cursor.after } }] } : where) as FilterQuery<T>;
  const rows = await em.find(entity, filter, { orderBy: { id: 'asc' } as never, limit: size + 1 });
  const page = rows.slice(0, size);
  const last = page.at(-1);
  return { rows: page, nextPageToken: rows.length > size && last ? encodeCursor({ m: method, after: last.id }) : '' };
}

/** A case-insensitive substring filter on `column` for either dialect. */
export function containsText(orm: Orm, text: string): Record<string, string> {
  // PostgreSQL's ILIKE escapes with a backslash; SQLite's LIKE (ASCII
  // case-insensitive) has no escape by default, so wildcards are dropped there.
  if (dialectOf(orm) === 'postgresql') return { $ilike: `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%` };
  return { $like: `%${text.replace(/[%_]/g, '')}%` };
}

/** Date → proto Timestamp, undefined for null. */
export function ts(date: Date | null | undefined): Timestamp | undefined {
  return date ? timestampFromDate(date) : undefined;
}
