/**
 * Sends one upstream request over a shared keep-alive connection pool
 * (undici). The response body is a stream, so the caller can forward chunks
 * as they arrive; aborting `signal` (client gone, attempt timeout) destroys
 * the upstream connection's request.
 */
import { Readable } from 'node:stream';
import { Agent, request, errors } from 'undici';

/** An upstream response whose body has not been read yet. */
export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
}

export interface UpstreamRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
  signal: AbortSignal;
  /** Time to the response headers (the first byte), after which the attempt is a timeout. */
  headersTimeoutMs: number;
}

/** Why an attempt failed before a response arrived. */
export class UpstreamTransportError extends Error {
  constructor(
    readonly reason: 'timeout' | 'connection' | 'aborted',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'UpstreamTransportError';
  }
}

const agent = new Agent({ keepAliveTimeout: 30_000, keepAliveMaxTimeout: 600_000, connections: 256, pipelining: 1 });

/** POSTs JSON upstream. Throws `UpstreamTransportError` for timeouts and connection failures. */
export async function sendUpstream(req: UpstreamRequest): Promise<UpstreamResponse> {
  try {
    const res = await request(req.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...req.headers },
      body: req.body,
      signal: req.signal,
      dispatcher: agent,
      headersTimeout: req.headersTimeoutMs,
      bodyTimeout: req.headersTimeoutMs,
    });
    return { status: res.statusCode, headers: res.headers, body: res.body as unknown as Readable };
  } catch (err) {
    if (req.signal.aborted) {
      const reason = req.signal.reason instanceof UpstreamTransportError ? req.signal.reason.reason : 'aborted';
      throw new UpstreamTransportError(reason, reason === 'timeout' ? 'upstream attempt timed out' : 'request aborted', { cause: err });
    }
    if (err instanceof errors.HeadersTimeoutError || err instanceof errors.BodyTimeoutError) {
      throw new UpstreamTransportError('timeout', 'upstream did not answer in time', { cause: err });
    }
    throw new UpstreamTransportError('connection', `cannot reach upstream: ${(err as Error).message}`, { cause: err });
  }
}

/** Reads a whole (small) body as text, at most `limit` bytes. */
export async function readBody(body: Readable, limit = 32 * 1024 * 1024): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
    size += buf.length;
    if (size > limit) {
      body.destroy();
      throw new UpstreamTransportError('connection', `upstream response larger than ${limit} bytes`);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Wraps in-memory bytes as an upstream body (used by the mock provider). */
export function bodyFrom(iterable: AsyncIterable<string> | Iterable<string>): Readable {
  return Readable.from(iterable, { objectMode: false });
}
