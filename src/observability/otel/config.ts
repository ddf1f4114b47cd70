/** Reading the standard OpenTelemetry exporter environment variables (no dependencies: env.ts imports it). */

/** Parses `OTEL_EXPORTER_OTLP_HEADERS` (`k=v,k2=v2`, values URL-encoded). */
export function parseOtlpHeaders(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (raw ?? '').split(',')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    out[decodeURIComponent(part.slice(0, i).trim())] = decodeURIComponent(part.slice(i + 1).trim());
  }
  return out;
}

/** The traces URL of an `OTEL_EXPORTER_OTLP_ENDPOINT` base (`/v1/traces` appended) or of `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (as is). */
export function tracesUrl(base: string | undefined, tracesEndpoint: string | undefined): string | undefined {
  if (tracesEndpoint) return tracesEndpoint;
  if (!base) return undefined;
  return `${base.replace(/\/+$/, '')}/v1/traces`;
}
