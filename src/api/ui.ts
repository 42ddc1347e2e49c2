/**
 * The dashboard (issue #20; docs/dashboard.md) at /ui: the files scripts/build-ui.mjs made, served by
 * this process with no other (no CDN, no second server). The page itself holds no data and needs no
 * key; everything it shows it reads from /v1 with the key the operator typed, as any client does.
 *
 * - /ui/assets/*: the bundle, named by content hash, so cached for a year;
 * - /ui and every other /ui/... path: index.html, never cached, so that each view's URL can be shared
 *   and reloaded (the page's router reads the path and query);
 * - a Content-Security-Policy that allows this origin only: the page can load, connect to and embed
 *   nothing from elsewhere, and no other site can frame it.
 * Without a build (a checkout run from src/ before `npm run build`), /ui answers 503 saying so.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** Where `npm run build` puts the dashboard: dist/ui of this package, from src/api/ or dist/api/ alike. */
export const DEFAULT_UI_DIR = fileURLToPath(new URL('../../dist/ui/', import.meta.url));

export const UI_PREFIX = '/ui';

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

function secure(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY');
}

export interface UiOptions {
  /** The directory holding index.html and assets/. Default DEFAULT_UI_DIR. */
  dir?: string;
}

/** Registers /ui; call once, in the root context. */
export async function registerUi(app: FastifyInstance, opts: UiOptions = {}): Promise<void> {
  const dir = opts.dir ?? DEFAULT_UI_DIR;
  const indexFile = path.join(dir, 'index.html');
  const index = existsSync(indexFile) ? readFileSync(indexFile) : undefined;
  const page = async (_request: unknown, reply: FastifyReply) => {
    if (index === undefined) {
      return secure(reply).code(503).type('text/plain; charset=utf-8').send('The jobq dashboard is not built here: run `npm run build`, then start jobq again.\n');
    }
    return secure(reply).header('cache-control', 'no-cache').type('text/html; charset=utf-8').send(index);
  };
  const hide = { schema: { hide: true } };
  app.get(UI_PREFIX, hide, page);
  app.get(`${UI_PREFIX}/*`, hide, page);
  if (index === undefined) return;
  await app.register(async (assets) => {
    assets.addHook('onSend', async (_request, reply) => {
      secure(reply);
    });
    await assets.register(fastifyStatic, {
      root: path.join(dir, 'assets'),
      prefix: `${UI_PREFIX}/assets/`,
      decorateReply: false,
      index: false,
      immutable: true,
      maxAge: '365d',
      schemaHide: true,
    });
  });
}
