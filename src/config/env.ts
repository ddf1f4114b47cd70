/**
 * Static configuration from the environment, validated once at boot. Every
 * problem is reported at once, by variable name.
 */
import { resolve } from 'node:path';
import type { DatabaseTarget } from '../db/orm.js';

export interface EnvConfig {
  host: string;
  port: number;
  dataDir: string;
  database: DatabaseTarget;
  adminToken?: string;
  masterKey?: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Seed the labelled demo workspace when no provider exists: `auto` (default) or `off`. */
  demo: 'auto' | 'off';
  /** `REDIS_URL`: rate and spend counters shared by every replica; unset keeps them in this process. */
  redisUrl?: string;
  /** `SLUICE_LOG_SPILL_DIR`: where request logs wait while the database is unreachable; default `<data dir>/log-spill`. */
  logSpillDir?: string;
  /** `SLUICE_LOG_RETENTION_DAYS`: days logs are kept in workspaces whose `log_retention_days` is 0; default 30. */
  logRetentionDays?: number;
}

export class EnvConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid environment:\n  ${problems.join('\n  ')}`);
    this.name = 'EnvConfigError';
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Reads and validates the environment (`PORT`, `HOST`, `SLUICE_DATA_DIR`, `DATABASE_URL`, …). */
export function readEnvConfig(env: NodeJS.ProcessEnv = process.env): EnvConfig {
  const problems: string[] = [];
  const port = Number(env.PORT ?? '8080');
  if (!Number.isInteger(port) || port < 0 || port > 65535) problems.push(`PORT: must be an integer 0-65535, got "${env.PORT}"`);
  const dataDir = resolve(env.SLUICE_DATA_DIR ?? './data');
  let database: DatabaseTarget = { dialect: 'sqlite', path: resolve(dataDir, 'sluice.db') };
  if (env.DATABASE_URL) {
    if (/^postgres(ql)?:\/\//.test(env.DATABASE_URL)) database = { dialect: 'postgresql', url: env.DATABASE_URL };
    else if (env.DATABASE_URL.startsWith('sqlite:')) database = { dialect: 'sqlite', path: resolve(env.DATABASE_URL.slice('sqlite:'.length)) };
    else problems.push('DATABASE_URL: must start with postgres://, postgresql:// or sqlite:');
  }
  const logLevel = (env.SLUICE_LOG_LEVEL ?? 'info') as EnvConfig['logLevel'];
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`SLUICE_LOG_LEVEL: one of ${LOG_LEVELS.join(', ')}`);
  const demo = (env.SLUICE_DEMO ?? 'auto') as EnvConfig['demo'];
  if (demo !== 'auto' && demo !== 'off') problems.push('SLUICE_DEMO: "auto" or "off"');
  if (env.REDIS_URL && !/^rediss?:\/\/[^/]/.test(env.REDIS_URL)) problems.push('REDIS_URL: must start with redis:// or rediss://');
  const retention = env.SLUICE_LOG_RETENTION_DAYS === undefined ? undefined : Number(env.SLUICE_LOG_RETENTION_DAYS);
  if (retention !== undefined && (!Number.isInteger(retention) || retention < 1 || retention > 3650)) problems.push('SLUICE_LOG_RETENTION_DAYS: an integer 1-3650');
  if (env.SLUICE_ADMIN_TOKEN && env.SLUICE_ADMIN_TOKEN.length < 16) problems.push('SLUICE_ADMIN_TOKEN: at least 16 characters');
  if (problems.length) throw new EnvConfigError(problems);
  return {
    host: env.HOST ?? '127.0.0.1',
    port,
    dataDir,
    database,
    adminToken: env.SLUICE_ADMIN_TOKEN || undefined,
    masterKey: env.SLUICE_MASTER_KEY || undefined,
    logLevel,
    demo,
    redisUrl: env.REDIS_URL || undefined,
    logSpillDir: env.SLUICE_LOG_SPILL_DIR ? resolve(env.SLUICE_LOG_SPILL_DIR) : undefined,
    logRetentionDays: retention,
  };
}
