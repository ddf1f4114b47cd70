/**
 * Page tokens for every List method: an opaque base64url JSON cursor. Config
 * resources page by id (ids are time-ordered); ordered lists (routes) page by
 * offset. A token is bound to its method so it cannot be replayed elsewhere.
 */
import { SluiceError } from '../errors.js';

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

interface Cursor {
  m: string;
  after?: string;
  offset?: number;
}

/** Validates `page_size`, returning the effective size. */
export function pageSize(requested: number): number {
  if (requested < 0 || requested > MAX_PAGE_SIZE) {
    throw SluiceError.invalid([{ field: 'page_size', description: `must be between 0 and ${MAX_PAGE_SIZE}`, reason: 'OUT_OF_RANGE' }]);
  }
  return requested === 0 ? DEFAULT_PAGE_SIZE : requested;
}

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify(cursor)).toString('base64url');
}

/** Decodes a page token for `method`; an empty token is the first page. */
export function decodeCursor(token: string, method: string): Cursor | undefined {
  if (!token) return undefined;
  try {
    const cursor = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as Cursor;
    if (cursor.m === method) return cursor;
  } catch {
    // fall through to the error below
  }
  throw SluiceError.invalid([{ field: 'page_token', description: 'is not a page token of this list', reason: 'INVALID_FORMAT' }]);
}
