/**
 * A private PostgreSQL 15 server for tests that must stop and start the
 * database (the machine's shared server stays up for everyone else): initdb
 * into a temporary directory, listen on 127.0.0.1 at a free port with the
 * socket in that directory, trust auth. Run as the `postgres` user when the
 * test runs as root (initdb refuses root). Any failure throws: the calling
 * suite fails, it is never skipped.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = process.env.SLUICE_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface OwnPostgres {
  url: string;
  port: number;
  stop(): void;
  start(): void;
  destroy(): void;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

function postgresUid(): number | undefined {
  if (process.getuid?.() !== 0) return undefined;
  return Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
}

export async function startOwnPostgres(): Promise<OwnPostgres> {
  if (!existsSync(join(BIN, 'initdb'))) throw new Error(`PostgreSQL binaries not found in ${BIN} (set SLUICE_TEST_PG_BIN)`);
  const dir = mkdtempSync(join(tmpdir(), 'sluice-own-pg-'));
  const uid = postgresUid();
  if (uid !== undefined) chownSync(dir, uid, Number(execFileSync('id', ['-g', 'postgres']).toString().trim()));
  const run = (cmd: string, args: string[]) => {
    const [file, argv] = uid === undefined ? [join(BIN, cmd), args] : ['runuser', ['-u', 'postgres', '--', join(BIN, cmd), ...args]];
    execFileSync(file, argv, { stdio: 'pipe', timeout: 60_000 });
  };
  const data = join(dir, 'data');
  run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync']);
  const port = await freePort();
  const opts = `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c max_connections=50`;
  const start = () => run('pg_ctl', ['-D', data, '-o', opts, '-w', '-t', '30', '-l', join(dir, 'log'), 'start']);
  const stop = () => run('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '30', 'stop']);
  start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    start,
    stop,
    destroy() {
      try {
        stop();
      } catch {
        // already stopped
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
