/**
 * The dual-protocol listener: HTTP/1.1 and h2c on one port, and connections
 * that never send a byte neither linger after their client hangs up nor
 * hold up closing the server.
 */
import { connect, type Socket } from 'node:net';
import http2 from 'node:http2';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { dualProtocolServerFactory } from './server.js';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function start(): Promise<{ port: number; app: FastifyInstance }> {
  app = Fastify({ serverFactory: dualProtocolServerFactory({ keepAliveMs: 72_000, headersMs: 30_000 }) });
  app.get('/ping', async (req) => ({ version: req.raw.httpVersion }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  return { port: address.port, app };
}

const opened = (port: number) =>
  new Promise<Socket>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
const connections = (a: FastifyInstance) => new Promise<number>((resolve, reject) => a.server.getConnections((err, n) => (err ? reject(err) : resolve(n))));

describe('dual-protocol server', () => {
  it('answers HTTP/1.1 and h2c on the same port', async () => {
    const { port } = await start();
    expect(await (await fetch(`http://127.0.0.1:${port}/ping`)).json()).toEqual({ version: '1.1' });
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const body = await new Promise<string>((resolve, reject) => {
      const stream = session.request({ ':path': '/ping' });
      let text = '';
      stream.setEncoding('utf8');
      stream.on('data', (c: string) => (text += c));
      stream.on('end', () => resolve(text));
      stream.on('error', reject);
    });
    session.close();
    expect(JSON.parse(body)).toEqual({ version: '2.0' });
  });

  it('drops a connection whose client hangs up before sending anything, at once', async () => {
    const { port, app: a } = await start();
    const socket = await opened(port);
    await expect.poll(() => connections(a)).toBe(1);
    socket.end();
    // Without the end handler the server keeps it half-open until the 30 s headers timeout.
    await expect.poll(() => connections(a), { timeout: 2000 }).toBe(0);
  });

  it('closes without waiting for connections that have not sent a request', async () => {
    const { port, app: a } = await start();
    const silent = await opened(port);
    const closedByServer = new Promise<void>((resolve) => silent.once('close', () => resolve()));
    const started = Date.now();
    await a.close();
    app = undefined;
    await closedByServer;
    expect(Date.now() - started).toBeLessThan(2000);
  });
});
