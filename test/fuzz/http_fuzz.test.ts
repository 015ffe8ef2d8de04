/**
 * Fault suite of the packed loader over HTTP: a local server on 127.0.0.1 that lies about sizes,
 * sends an endless body, stalls, or never answers. Every case must end in an InputError (or the
 * caller's AbortError) within the idle timeout, with the connection closed by the client after at
 * most the declared size plus one chunk, and no tensor leaked.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { quantizeModel } from '../../adapters/quantize/quantize_model.ts';
import { saveQuantized } from '../../adapters/io/save_quantized.ts';
import { loadQuantized } from '../../adapters/io/load_quantized.ts';
import { readBounded } from '../../adapters/io/read_bounded.ts';
import { InputError } from '../../plugins/core/errors.ts';
import { HANG, LONG, Tally, fingerprint, smallModel, watchdog } from './helpers.ts';

const TIMEOUT_MS = 300; // the loaders' idle timeout in these cases
const WATCHDOG_MS = 20_000;
const MiB = 1024 * 1024;

type Route = (req: IncomingMessage, res: ServerResponse, sent: (n: number) => void) => void;
let server: Server;
let base: string;
let route: Route = () => {};
const sockets = new Set<Socket>();
let jsonBytes: Uint8Array;
let bin: Uint8Array;
let weightsName: string;
let original: string;
let root: string;
/** Bytes the server wrote for the current case and whether the client closed the connection. */
let served = 0;

test.before(async () => {
  await tf.setBackend('cpu');
  root = await mkdtemp(path.join(tmpdir(), 'fuzz-http-'));
  const model = smallModel(7);
  const x = tf.randomNormal([64, 8], 0, 1, 'float32', 8);
  const q = await quantizeModel(model, x, { method: 'rtn', bits: 4 });
  const saved = await saveQuantized(q, path.join(root, 'm'));
  jsonBytes = new Uint8Array(await readFile(saved.modelJson));
  bin = new Uint8Array(await readFile(saved.weights));
  weightsName = path.basename(saved.weights);
  original = fingerprint(q.model);
  tf.dispose([x]);
  q.model.dispose();
  model.dispose();
  server = createServer((req, res) => route(req, res, (n) => (served += n)));
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/m/`;
});

test.after.always(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => server?.close(r));
  await rm(root, { recursive: true, force: true });
});

/** Writes `chunk` forever (respecting backpressure) until the client goes away. */
function endless(res: ServerResponse, chunk: Uint8Array, sent: (n: number) => void): void {
  const pump = () => {
    while (!res.destroyed) {
      sent(chunk.byteLength);
      if (!res.write(chunk)) return void res.once('drain', pump);
    }
  };
  res.on('close', () => res.removeAllListeners('drain'));
  pump();
}

/** Serves the good model.json and answers weights requests with `weights`. */
function weightsRoute(weights: Route): Route {
  return (req, res, sent) => {
    if (req.url?.endsWith('model.json')) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': jsonBytes.byteLength });
      return void res.end(jsonBytes);
    }
    if (req.url?.endsWith(weightsName)) return weights(req, res, sent);
    res.writeHead(404).end();
  };
}

const ones = new Uint8Array(64 * 1024).fill(0x31);

const cases: Array<[string, Route, 'clear' | 'abort' | 'same', number?]> = [
  ['model.json: never answers', () => {}, 'clear'],
  ['model.json: headers, then silence', (_q, res) => { res.writeHead(200); res.write('{"format":'); }, 'clear'],
  ['model.json: endless body', (_q, res, sent) => { res.writeHead(200); endless(res, ones, sent); }, 'clear', 80 * MiB],
  ['model.json: Content-Length 10 GiB', (_q, res) => { res.writeHead(200, { 'content-length': 10 * 1024 * MiB }); res.write('{'); }, 'clear', MiB],
  ['model.json: 404', (_q, res) => void res.writeHead(404).end(), 'clear'],
  ['model.json: 500 with a body', (_q, res) => void res.writeHead(500).end('oops'), 'clear'],
  ['model.json: connection reset', (q) => void q.socket.destroy(), 'clear'],
  ['model.json: gzip-encoded (fine)', (q, res) => {
    if (!q.url?.endsWith('model.json')) return weightsRoute((_r, s) => void s.writeHead(200, { 'content-length': bin.byteLength }).end(bin))(q, res, () => {});
    const z = gzipSync(jsonBytes);
    res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': z.byteLength }).end(z);
  }, 'same'],
  ['weights: never answers', weightsRoute(() => {}), 'clear'],
  ['weights: stalls after half', weightsRoute((_q, res) => { res.writeHead(200, { 'content-length': bin.byteLength }); res.write(bin.subarray(0, bin.byteLength >> 1)); }), 'clear'],
  ['weights: Content-Length 300 MiB', weightsRoute((_q, res, sent) => { res.writeHead(200, { 'content-length': 300 * MiB }); endless(res, ones, sent); }), 'clear', 4 * MiB],
  ['weights: 300 MiB chunked where a few KB are declared', weightsRoute((_q, res, sent) => { res.writeHead(200); endless(res, ones, sent); }), 'clear', 8 * MiB],
  ['weights: the model\'s bytes repeated forever', weightsRoute((_q, res, sent) => { res.writeHead(200); endless(res, new Uint8Array(Array.from({ length: 512 }, () => [...bin]).flat()), sent); }), 'clear', 8 * MiB],
  ['weights: Content-Length 1 byte short', weightsRoute((_q, res) => void res.writeHead(200, { 'content-length': bin.byteLength - 1 }).end(bin.subarray(1))), 'clear'],
  ['weights: right Content-Length, connection closed early', weightsRoute((q, res) => { res.writeHead(200, { 'content-length': bin.byteLength }); res.write(bin.subarray(0, 10), () => q.socket.destroy()); }), 'clear'],
  ['weights: one byte too many, chunked', weightsRoute((_q, res) => { res.writeHead(200); res.end(new Uint8Array([...bin, 0])); }), 'clear'],
  ['weights: 404', weightsRoute((_q, res) => void res.writeHead(404).end()), 'clear'],
  ['weights: trickle, aborted by the caller', weightsRoute((_q, res) => { res.writeHead(200); res.write(bin.subarray(0, 1)); }), 'abort'],
  ['the intact model', weightsRoute((_q, res) => void res.writeHead(200, { 'content-length': bin.byteLength }).end(bin)), 'same'],
];

test.serial('lying, endless, stalled and silent servers end in clear errors', async (t) => {
  const tally = new Tally();
  const rounds = LONG ? 5 : 1;
  for (let round = 0; round < rounds; round++) {
    for (const [label, r, expect, maxServed] of cases) {
      route = r;
      served = 0;
      const controller = new AbortController();
      const reason = new DOMException('stopped by the test', 'AbortError');
      if (expect === 'abort') setTimeout(() => controller.abort(reason), 50);
      const before = tf.memory().numTensors;
      const load = loadQuantized(base + 'model.json', { timeoutMs: expect === 'abort' ? 60_000 : TIMEOUT_MS, signal: controller.signal });
      const out = await watchdog(load.then((m) => ({ m }), (e: unknown) => ({ e })), WATCHDOG_MS);
      if (out === HANG) {
        tally.add('hang', label);
        continue;
      }
      if (tf.memory().numTensors !== before + ('m' in out ? out.m.weights.length : 0)) tally.add('leak', label);
      if ('m' in out) {
        const same = fingerprint(out.m) === original;
        out.m.dispose();
        tally.add(same && expect === 'same' ? 'same' : 'silent', label);
      } else {
        const e = out.e as Error;
        const ok = expect === 'abort' ? e === reason : expect === 'clear' && e instanceof InputError;
        tally.add(ok ? 'clear' : 'crash', label, `${e?.name}: ${e?.message}`);
        if (ok && round === 0) t.log(`${label} -> ${e.message}`);
      }
      if (maxServed !== undefined) t.true(served <= maxServed, `${label}: the server wrote ${served} bytes before the client hung up`);
    }
  }
  tally.check(t, 'HTTP faults');
});

test.serial('readBounded over HTTP: the declared size is enforced and the timeout is an idle timeout', async (t) => {
  route = (_q, res) => {
    res.writeHead(200);
    let n = 0;
    const timer = setInterval(() => (res.destroyed || n++ > 8 ? (clearInterval(timer), res.end()) : res.write('x')), 100);
  };
  // 9 bytes arriving 100 ms apart with an idle timeout of 300 ms: slow but alive, so it completes.
  const slow = await readBounded(base + 'slow', { timeoutMs: TIMEOUT_MS, maxBytes: 100 });
  t.is(new TextDecoder().decode(slow), 'x'.repeat(9));
  await t.throwsAsync(readBounded(base + 'slow', { timeoutMs: TIMEOUT_MS, expectedBytes: 5 }), { instanceOf: InputError, message: /more than the declared 5 bytes/ });
  await t.throwsAsync(readBounded(base + 'slow', { timeoutMs: TIMEOUT_MS, expectedBytes: 50 }), { instanceOf: InputError, message: /9 bytes but 50 are declared/ });
});
