/**
 * One port for HTTP/1.1 and HTTP/2 cleartext. Browsers, `fetch`-based
 * clients (tRPC, MCP, OpenAI SDKs) and Connect/gRPC-Web speak HTTP/1.1;
 * native gRPC needs HTTP/2 (h2c with prior knowledge). Each new connection's
 * first bytes are inspected: the HTTP/2 client preface starts with "PRI *",
 * which no HTTP/1 request line can, so it goes to the HTTP/2 server and
 * everything else to the HTTP/1 server. Both hand requests to fastify.
 *
 * Fastify does not manage a factory-built server's HTTP/2 side, so this
 * module applies the timeouts itself and closes HTTP/2 sessions when the
 * HTTP/1 server (the one fastify listens on) closes.
 */
import http from 'node:http';
import http2 from 'node:http2';
import type { Socket } from 'node:net';
import type { FastifyServerFactory } from 'fastify';

const H2_PREFACE_START = Buffer.from('PRI *');

export interface ServerTimeouts {
  /** Idle time before a keep-alive HTTP/1 connection or an HTTP/2 session is closed. */
  keepAliveMs: number;
  /** Longest time a client may take to send the request headers. */
  headersMs: number;
}

/** A fastify `serverFactory` serving HTTP/1.1 and h2c on the same listener. */
export function dualProtocolServerFactory(timeouts: ServerTimeouts): FastifyServerFactory {
  return (handler) => {
    const h1 = http.createServer({ keepAliveTimeout: timeouts.keepAliveMs, headersTimeout: timeouts.headersMs, requestTimeout: 0 }, handler);
    const h2 = http2.createServer({}, handler as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void);
    const sessions = new Set<http2.Http2Session>();
    h2.on('session', (session) => {
      sessions.add(session);
      session.setTimeout(timeouts.keepAliveMs, () => session.close());
      session.on('close', () => sessions.delete(session));
    });

    // Connections whose first bytes have not yet told HTTP/1 from HTTP/2: no request is in flight on them,
    // so closing the server destroys them, and one whose client hangs up before sending is destroyed at once
    // (the server is half-open capable, so nothing else would notice until the headers timeout).
    const undecided = new Set<Socket>();
    const h1Listeners = h1.listeners('connection') as ((socket: Socket) => void)[];
    h1.removeAllListeners('connection');
    h1.on('connection', (socket: Socket) => {
      let head = Buffer.alloc(0);
      undecided.add(socket);
      const onEnd = () => socket.destroy();
      socket.once('end', onEnd);
      socket.once('close', () => undecided.delete(socket));
      const onData = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk]);
        if (head.length < H2_PREFACE_START.length && H2_PREFACE_START.subarray(0, head.length).equals(head)) return;
        socket.off('data', onData);
        socket.off('end', onEnd);
        undecided.delete(socket);
        socket.pause();
        socket.unshift(head);
        if (head.subarray(0, H2_PREFACE_START.length).equals(H2_PREFACE_START)) {
          // The HTTP/2 session reads the buffered preface itself.
          h2.emit('connection', socket);
        } else {
          for (const listener of h1Listeners) listener.call(h1, socket);
          socket.resume();
        }
      };
      socket.on('data', onData);
      socket.setTimeout(timeouts.headersMs, () => {
        if (head.length === 0) socket.destroy();
      });
      socket.once('data', () => socket.setTimeout(0));
    });

    h1.on('close', () => {
      for (const session of sessions) session.close();
      h2.close();
    });
    // `close()` must not wait for idle HTTP/2 sessions.
    const close = h1.close.bind(h1);
    h1.close = ((callback?: (err?: Error) => void) => {
      for (const session of sessions) session.close();
      for (const socket of undecided) socket.destroy();
      return close(callback);
    }) as typeof h1.close;
    return h1;
  };
}
