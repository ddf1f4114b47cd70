/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): self time per
 * function with file:line, and per module. tsx compiles each TypeScript file
 * to one line of JavaScript, so positions in TypeScript files are mapped back
 * through the source maps the profiled process dumped (see sluice-server.ts,
 * `BENCH_SOURCEMAPS_OUT`); plain JavaScript (node_modules) keeps its own lines.
 * `windows` (monotonic µs, the clock of `process.hrtime`) restricts the
 * summary to samples taken inside them (the measured runs).
 *
 *   node --import tsx test/bench/profile.ts FILE.cpuprofile [sourcemaps.json] [windows.json]
 */
import { readFileSync, existsSync } from 'node:fs';
import { SourceMap, type SourceMapPayload } from 'node:module';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** Sampled non-idle time inside the windows, ms. */
  busyMs: number;
  idleMs: number;
  functions: { name: string; where: string; selfMs: number; share: number }[];
  modules: { module: string; selfMs: number; share: number }[];
  /** Inclusive (self + callees) time of the project's own functions (src/, test/bench/). */
  inclusive: { name: string; where: string; totalMs: number; share: number }[];
}

const root = fileURLToPath(new URL('../../', import.meta.url));

function shortPath(url: string): string {
  if (!url) return '';
  if (url.startsWith('node:')) return url;
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  return path.startsWith(root) ? relative(root, path) : path;
}

function moduleOf(url: string, name: string): string {
  if (!url) return name.startsWith('(') ? name : '(native/V8 builtins)';
  if (url.startsWith('node:')) return 'node: ' + url.slice(5).split('/').slice(0, 2).join('/');
  const p = shortPath(url);
  const nm = p.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = p.slice(nm + 13).split('/');
    return 'npm: ' + (rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!);
  }
  return p;
}

export function summariseProfile(profilePath: string, sourceMapsPath?: string, windows?: [number, number][], top = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(profilePath, 'utf8')) as CpuProfile;
  const maps = new Map<string, SourceMap>();
  if (sourceMapsPath && existsSync(sourceMapsPath)) {
    const raw = JSON.parse(readFileSync(sourceMapsPath, 'utf8')) as Record<string, SourceMapPayload>;
    for (const [url, payload] of Object.entries(raw)) maps.set(url, new SourceMap(payload));
  }
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (windows && !windows.some(([a, b]) => t >= a && t <= b)) continue;
    // A sample's weight is the time to the next one (the last gets the mean delta).
    const next = profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0;
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + next);
  }
  const where = (f: CallFrame): string => {
    const sm = maps.get(f.url);
    if (sm) {
      const e = sm.findEntry(f.lineNumber, f.columnNumber) as { originalLine?: number };
      if (e && typeof e.originalLine === 'number') return `${shortPath(f.url)}:${e.originalLine + 1}`;
    }
    return f.url ? `${shortPath(f.url)}:${f.lineNumber + 1}` : '';
  };
  const fns = new Map<string, { name: string; where: string; self: number }>();
  const mods = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  for (const [id, us] of self) {
    const f = byId.get(id)!.callFrame;
    if (f.functionName === '(idle)') {
      idle += us;
      continue;
    }
    busy += us;
    const w = where(f);
    const key = `${f.functionName}|${w}`;
    const entry = fns.get(key) ?? { name: f.functionName || '(anonymous)', where: w, self: 0 };
    entry.self += us;
    fns.set(key, entry);
    const m = moduleOf(f.url, f.functionName);
    mods.set(m, (mods.get(m) ?? 0) + us);
  }
  // Inclusive time: a node's self time counted for it and for every ancestor, once per function.
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const incl = new Map<string, { name: string; where: string; total: number }>();
  const whereCache = new Map<number, string>();
  const whereOf = (id: number) => {
    let w = whereCache.get(id);
    if (w === undefined) whereCache.set(id, (w = where(byId.get(id)!.callFrame)));
    return w;
  };
  for (const [id, us] of self) {
    if (byId.get(id)!.callFrame.functionName === '(idle)') continue;
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      const w = whereOf(cur);
      if (!/^(src|test\/bench)\//.test(w)) continue;
      const key = `${f.functionName}|${w}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const e = incl.get(key) ?? { name: f.functionName || '(anonymous)', where: w, total: 0 };
      e.total += us;
      incl.set(key, e);
    }
  }
  const share = (us: number) => (busy ? us / busy : 0);
  return {
    busyMs: busy / 1000,
    idleMs: idle / 1000,
    functions: [...fns.values()]
      .sort((a, b) => b.self - a.self)
      .slice(0, top)
      .map((f) => ({ name: f.name, where: f.where, selfMs: f.self / 1000, share: share(f.self) })),
    modules: [...mods.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([module, us]) => ({ module, selfMs: us / 1000, share: share(us) })),
    inclusive: [...incl.values()]
      .sort((a, b) => b.total - a.total)
      .slice(0, top)
      .map((f) => ({ name: f.name, where: f.where, totalMs: f.total / 1000, share: share(f.total) })),
  };
}

export function profileMarkdown(s: ProfileSummary, title: string): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  const lines = [
    `#### ${title}`,
    '',
    `Sampled busy time ${s.busyMs.toFixed(0)} ms (idle ${s.idleMs.toFixed(0)} ms).`,
    '',
    '| self | share | function | where |',
    '|---:|---:|---|---|',
    ...s.functions.map((f) => `| ${f.selfMs.toFixed(0)} ms | ${pct(f.share)} | \`${f.name}\` | ${f.where || '—'} |`),
    '',
    '| self | share | module |',
    '|---:|---:|---|',
    ...s.modules.map((m) => `| ${m.selfMs.toFixed(0)} ms | ${pct(m.share)} | ${m.module} |`),
    '',
    'Inclusive time (self + callees) of Sluice\'s own functions:',
    '',
    '| total | share | function | where |',
    '|---:|---:|---|---|',
    ...s.inclusive.map((f) => `| ${f.totalMs.toFixed(0)} ms | ${pct(f.share)} | \`${f.name}\` | ${f.where} |`),
    '',
  ];
  return lines.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [file, maps, windowsFile] = process.argv.slice(2);
  if (!file) {
    process.stderr.write('usage: node --import tsx test/bench/profile.ts FILE.cpuprofile [sourcemaps.json] [windows.json]\n');
    process.exit(2);
  }
  // windows.json (written by run.ts next to the profile): { "<label>": [[startUs, endUs], …], … }
  const windows = windowsFile && existsSync(windowsFile) ? (JSON.parse(readFileSync(windowsFile, 'utf8')) as Record<string, [number, number][]>) : { 'whole profile': undefined };
  for (const [label, w] of Object.entries(windows)) process.stdout.write(profileMarkdown(summariseProfile(file, maps, w ?? undefined), `${file}: ${label}`) + '\n');
}
