/**
 * The `sluice` command line: serve, migrate, apply, keys.
 * `apply` and `keys` talk to a running Sluice through the control API
 * (`--url`, default $SLUICE_URL or http://127.0.0.1:8080; `--token`, default
 * $SLUICE_TOKEN or $SLUICE_ADMIN_TOKEN).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { runApply, runKeys, runMigrate, runServe } from './commands.js';

const USAGE = `sluice — AI gateway

Usage:
  sluice serve [--config FILE]          start the gateway (PORT, HOST, SLUICE_DATA_DIR, DATABASE_URL, …)
  sluice migrate                         apply pending database migrations and exit
  sluice apply -f FILE [--dry-run]       apply a sluice.yaml through the control API
  sluice keys create --workspace W --name N [--gateway G]… [--default-gateway G] [--expires ISO] [--metadata k=v]…
  sluice keys list --workspace W [--all]
  sluice keys revoke KEY_ID

Options for apply and keys:
  --url URL      control API (default $SLUICE_URL or http://127.0.0.1:8080)
  --token TOKEN  admin token (default $SLUICE_TOKEN or $SLUICE_ADMIN_TOKEN)

Run "sluice <command> --help" for a command's options.`;

const COMMAND_HELP: Record<string, string> = {
  serve: `sluice serve [--config FILE]

Starts the gateway on HOST:PORT (default 127.0.0.1:8080) serving the data plane,
the Connect/gRPC and tRPC control APIs, /healthz and /readyz.
  --config FILE   apply this sluice.yaml at start (same rules as "sluice apply")
Environment: PORT, HOST, SLUICE_DATA_DIR (./data), DATABASE_URL (postgres://… for
PostgreSQL; SQLite in the data directory otherwise), SLUICE_ADMIN_TOKEN,
SLUICE_MASTER_KEY (required with PostgreSQL), SLUICE_LOG_LEVEL, SLUICE_DEMO=off.`,
  migrate: `sluice migrate

Applies pending migrations to the database chosen by DATABASE_URL / SLUICE_DATA_DIR, then exits.`,
  apply: `sluice apply -f FILE [--dry-run] [--url URL] [--token TOKEN]

Applies a declarative sluice.yaml through the control API. Idempotent: prints
each change (+ create, ~ update, = unchanged); resources missing from the file
are left alone. --dry-run prints the plan without writing. An invalid file
exits with status 1 and names every problem by path.`,
  keys: `sluice keys create --workspace W --name N [--gateway G]… [--default-gateway G] [--expires ISO] [--metadata k=v]…
sluice keys list --workspace W [--all]
sluice keys revoke KEY_ID

Manages data-plane API keys (sk-sluice-…). The secret is printed once, at creation.`,
};

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  config: { type: 'string' },
  file: { type: 'string', short: 'f' },
  'dry-run': { type: 'boolean' },
  url: { type: 'string' },
  token: { type: 'string' },
  workspace: { type: 'string', short: 'w' },
  name: { type: 'string' },
  gateway: { type: 'string', multiple: true },
  'default-gateway': { type: 'string' },
  expires: { type: 'string' },
  metadata: { type: 'string', multiple: true },
  all: { type: 'boolean' },
} as const satisfies ParseArgsConfig['options'];

export type CliOptions = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

/** Runs the CLI; returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    console.error(`sluice: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const [command, ...rest] = parsed.positionals;
  const opts = parsed.values;
  if (!command || command === 'help') {
    console.log(USAGE);
    return command ? 0 : opts.help ? 0 : 2;
  }
  if (opts.help) {
    const help = COMMAND_HELP[command];
    console.log(help ?? USAGE);
    return help ? 0 : 2;
  }
  try {
    switch (command) {
      case 'serve':
        return await runServe(opts);
      case 'migrate':
        return await runMigrate();
      case 'apply':
        return await runApply(opts);
      case 'keys':
        return await runKeys(rest, opts);
      default:
        console.error(`sluice: unknown command "${command}"\n\n${USAGE}`);
        return 2;
    }
  } catch (err) {
    console.error(`sluice ${command}: ${(err as Error).message}`);
    return 1;
  }
}
