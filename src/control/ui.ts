/**
 * Serves the dashboard (the Vite build of `src/ui`, in `dist/ui`) at `/ui`.
 * The files are read into memory once at start, with a gzip copy of each
 * text file; hashed assets under `/ui/assets/` are cached for a year
 * (`immutable`), `index.html` is revalidated every time. Any other GET under
 * `/ui/` that names no file answers `index.html` (the app routes in the
 * browser). Nothing is fetched from a CDN: the build holds every asset.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Where `npm run build:ui` writes the dashboard. */
export const DEFAULT_UI_ROOT = fileURLToPath(new URL('../../dist/ui/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

interface Asset {
  body: Buffer;
  gzip?: Buffer;
  type: string;
  cache: string;
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : [path];
  });
}

/** Loads every file of the build, keyed by its URL path below `/ui/`. */
function loadAssets(root: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const file of walk(root)) {
    const path = relative(root, file).split(sep).join('/');
    const body = readFileSync(file);
    const type = TYPES[extname(file)] ?? 'application/octet-stream';
    const compressible = /^text\/|svg|json/.test(type) && body.length > 512;
    assets.set(path, {
      body,
      gzip: compressible ? gzipSync(body, { level: 9 }) : undefined,
      type,
      cache: path.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache',
    });
  }
  return assets;
}

function send(req: FastifyRequest, reply: FastifyReply, asset: Asset) {
  reply.header('content-type', asset.type).header('cache-control', asset.cache).header('x-content-type-options', 'nosniff').header('vary', 'accept-encoding');
  if (asset.type.startsWith('text/html')) {
    // The app talks only to its own origin; nothing may frame it.
    reply
      .header('content-security-policy', "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'")
      .header('x-frame-options', 'DENY');
  }
  const acceptsGzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
  if (asset.gzip && acceptsGzip) return reply.header('content-encoding', 'gzip').send(asset.gzip);
  return reply.send(asset.body);
}

export interface UiRoutesOptions {
  /** The build directory; defaults to `dist/ui` of the package. */
  root?: string;
}

/**
 * Registers `/ui` and `/ui/*`. Without a build, `/ui` answers 503 saying how
 * to build it, so a missing build is obvious rather than a blank page.
 */
export async function uiRoutes(app: FastifyInstance, options: UiRoutesOptions = {}): Promise<void> {
  const root = options.root ?? DEFAULT_UI_ROOT;
  const assets = existsSync(join(root, 'index.html')) ? loadAssets(root) : undefined;
  if (!assets) app.log.warn({ root }, 'dashboard not built: /ui answers 503 until `npm run build:ui` has run');

  app.get('/ui', async (_req, reply) => reply.redirect('/ui/', 301));
  app.get('/ui/*', async (req, reply) => {
    if (!assets) {
      return reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .send('The Sluice dashboard is not built. Run `npm run build:ui` (npm install runs it) and restart.\n');
    }
    let path: string;
    try {
      path = decodeURIComponent((req.params as { '*': string })['*'] ?? '');
    } catch {
      return reply.code(400).type('text/plain; charset=utf-8').send('malformed path\n');
    }
    const asset = assets.get(path);
    if (asset) return send(req, reply, asset);
    // A missing hashed asset is a real 404 (an old tab after an upgrade), not the app shell.
    if (path.startsWith('assets/')) return reply.code(404).type('text/plain; charset=utf-8').send('not found\n');
    return send(req, reply, assets.get('index.html')!);
  });
}
