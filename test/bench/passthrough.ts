/**
 * The "Node floor" for the benchmark (its own process): bare fastify 5 with
 * undici `request()` over one shared keep-alive Agent, forwarding
 * `POST /v1/chat/completions` to the upstream and piping the answer back.
 * Nothing is parsed beyond fastify's JSON body parser; the body is
 * re-serialised for the upstream. Streaming answers are piped the same way.
 *
 *   node --import tsx test/bench/passthrough.ts --upstream=http://127.0.0.1:PORT [--port=0]
 *
 * Prints `{"port":N}` on stdout once listening on 127.0.0.1.
 */
import Fastify from 'fastify';
import { Agent, request } from 'undici';

function arg(name: string, fallback?: string): string {
  const hit = process.argv.find((a) => a.startsWith(`--${name}=`));
  if (hit) return hit.slice(name.length + 3);
  if (fallback === undefined) throw new Error(`missing --${name}=`);
  return fallback;
}

const upstream = arg('upstream').replace(/\/+$/, '');
const port = Number(arg('port', '0'));
const agent = new Agent({ keepAliveTimeout: 30_000, keepAliveMaxTimeout: 600_000, connections: 256, pipelining: 1 });

const app = Fastify({ logger: false, keepAliveTimeout: 72_000, bodyLimit: 32 * 1024 * 1024 });

app.post('/v1/chat/completions', async (req, reply) => {
  const auth = req.headers.authorization;
  const res = await request(`${upstream}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
    body: JSON.stringify(req.body),
    dispatcher: agent,
  });
  reply.code(res.statusCode);
  const type = res.headers['content-type'];
  if (typeof type === 'string') reply.header('content-type', type);
  return reply.send(res.body);
});

const address = await app.listen({ host: '127.0.0.1', port });
process.stdout.write(JSON.stringify({ port: Number(new URL(address).port) }) + '\n');

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.on(sig, () => {
    void app.close().finally(() => process.exit(0));
  });
}
