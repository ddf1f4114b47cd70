/**
 * Static configuration from the environment, validated once at boot. Every
 * problem is reported at once, by variable name.
 */
import { resolve } from 'node:path';
import type { DatabaseTarget } from '../db/orm.js';
import { parseOtlpHeaders, tracesUrl } from '../observability/otel/config.js';

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
  /** `SLUICE_METRICS_FLUSH_MS`: how often metrics rollups are written; default 5000. */
  metricsFlushMs?: number;
  /** `SLUICE_METRICS_TOKEN`: bearer token `/metrics` requires; unset leaves it open. */
  metricsToken?: string;
  /** `SLUICE_METRICS_LABEL_CAP`: distinct values per Prometheus label before `other`; default 100. */
  metricsLabelCap?: number;
  /** OTLP trace export, from `OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT`, `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_SERVICE_NAME`; unset disables traces. */
  otel?: { tracesUrl: string; headers: Record<string, string>; serviceName: string };
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
  const metricsFlushMs = env.SLUICE_METRICS_FLUSH_MS === undefined ? undefined : Number(env.SLUICE_METRICS_FLUSH_MS);
  if (metricsFlushMs !== undefined && (!Number.isInteger(metricsFlushMs) || metricsFlushMs < 100 || metricsFlushMs > 60_000)) problems.push('SLUICE_METRICS_FLUSH_MS: an integer 100-60000');
  const metricsLabelCap = env.SLUICE_METRICS_LABEL_CAP === undefined ? undefined : Number(env.SLUICE_METRICS_LABEL_CAP);
  if (metricsLabelCap !== undefined && (!Number.isInteger(metricsLabelCap) || metricsLabelCap < 1 || metricsLabelCap > 10_000)) problems.push('SLUICE_METRICS_LABEL_CAP: an integer 1-10000');
  if (env.SLUICE_METRICS_TOKEN !== undefined && env.SLUICE_METRICS_TOKEN.length > 0 && env.SLUICE_METRICS_TOKEN.length < 16) problems.push('SLUICE_METRICS_TOKEN: at least 16 characters');
  const otelUrl = env.OTEL_SDK_DISABLED === 'true' ? undefined : tracesUrl(env.OTEL_EXPORTER_OTLP_ENDPOINT, env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
  if (otelUrl && !/^https?:\/\/[^/]/.test(otelUrl)) problems.push('OTEL_EXPORTER_OTLP_ENDPOINT: must be an http:// or https:// URL');
  const protocol = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL;
  if (otelUrl && protocol && protocol !== 'http/json' && protocol !== 'http/protobuf') problems.push(`OTEL_EXPORTER_OTLP_PROTOCOL: only http/json is exported (http/protobuf endpoints accept it); got "${protocol}"`);
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
    metricsFlushMs,
    metricsToken: env.SLUICE_METRICS_TOKEN || undefined,
    metricsLabelCap,
    otel: otelUrl ? { tracesUrl: otelUrl, headers: parseOtlpHeaders(env.OTEL_EXPORTER_OTLP_TRACES_HEADERS ?? env.OTEL_EXPORTER_OTLP_HEADERS), serviceName: env.OTEL_SERVICE_NAME || 'sluice' } : undefined,
    logSpillDir: env.SLUICE_LOG_SPILL_DIR ? resolve(env.SLUICE_LOG_SPILL_DIR) : undefined,
    logRetentionDays: retention,
  };
}
