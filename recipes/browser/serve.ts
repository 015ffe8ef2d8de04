/**
 * A tiny static HTTP server for the browser example and its test: serves one folder on 127.0.0.1
 * at a free port, with the MIME types the page needs (application/wasm lets the browser compile
 * wasm while it streams), no caching (every load is a real download), and a count of the body
 * bytes sent per path, so a test can check what the page actually fetched.
 *
 * Run: npx tsx recipes/browser/serve.ts [root]   (default root: out/browser)
 */
import { createServer, type Server } from 'node:http';
import { createReadStream, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';

export const MIME_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.txt': 'text/plain; charset=utf-8',
  '.ico': 'image/x-icon',
};

export interface RequestRecord {
  path: string;
  status: number;
  bytes: number;
  contentType: string;
}

export interface StaticServer {
  /** Base URL without a trailing slash, e.g. http://127.0.0.1:41234 */
  url: string;
  port: number;
  /** Body bytes sent per URL path (decoded, without the query string). */
  bytesServed: Map<string, number>;
  /** Every request in arrival order. */
  requests: RequestRecord[];
  /** Sum of bytesServed over paths starting with `prefix`. */
  bytesUnder(prefix: string): number;
  /** Forgets bytesServed and requests. */
  reset(): void;
  close(): Promise<void>;
}

/** Serves `root` on 127.0.0.1 at a free port (or `port`). Paths outside `root` get 403. */
export async function serveStatic(root: string, port = 0): Promise<StaticServer> {
  const absRoot = path.resolve(root);
  const bytesServed = new Map<string, number>();
  const requests: RequestRecord[] = [];

  const server: Server = createServer((req, res) => {
    const record = (status: number, bytes: number, contentType: string, urlPath: string) => {
      requests.push({ path: urlPath, status, bytes, contentType });
      if (status === 200) bytesServed.set(urlPath, (bytesServed.get(urlPath) ?? 0) + bytes);
    };
    let urlPath: string;
    try {
      urlPath = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname);
    } catch {
      res.writeHead(400).end('bad request');
      record(400, 0, '', req.url ?? '');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      record(405, 0, '', urlPath);
      return;
    }
    const file = path.join(absRoot, urlPath.endsWith('/') ? urlPath + 'index.html' : urlPath);
    if (file !== absRoot && !file.startsWith(absRoot + path.sep)) {
      res.writeHead(403).end('forbidden');
      record(403, 0, '', urlPath);
      return;
    }
    fsp.stat(file).then(
      (st) => {
        if (!st.isFile()) throw new Error('not a file');
        const contentType = MIME_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
        res.writeHead(200, {
          'Content-Type': contentType,
          'Content-Length': st.size,
          'Cache-Control': 'no-store',
        });
        if (req.method === 'HEAD') {
          res.end();
          record(200, 0, contentType, urlPath);
          return;
        }
        let sent = 0;
        const stream = createReadStream(file);
        stream.on('data', (chunk) => { sent += chunk.length; });
        stream.on('end', () => record(200, sent, contentType, urlPath));
        stream.on('error', () => res.destroy());
        stream.pipe(res);
      },
      () => {
        res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' }).end('not found');
        record(404, 0, '', urlPath);
      },
    );
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('The server did not get a TCP port.');
  return {
    url: `http://127.0.0.1:${address.port}`,
    port: address.port,
    bytesServed,
    requests,
    bytesUnder: (prefix) => [...bytesServed].reduce((s, [p, b]) => (p.startsWith(prefix) ? s + b : s), 0),
    reset: () => { bytesServed.clear(); requests.length = 0; },
    close: () => new Promise<void>((resolve, reject) => {
      server.closeAllConnections();
      server.close((err) => (err ? reject(err) : resolve()));
    }),
  };
}

/** CLI: serve a folder until interrupted. */
export async function main(root = 'out/browser'): Promise<StaticServer> {
  const s = await serveStatic(root);
  console.log(`Serving ${path.resolve(root)} at ${s.url}/ (Ctrl-C to stop)`);
  return s;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await main(process.argv[2]);
}
