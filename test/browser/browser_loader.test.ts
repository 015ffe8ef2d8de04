/**
 * End to end: the packed model loads in a real browser.
 *
 * Builds the example (recipes/browser/build.ts: train, quantize at 4 bits and at 3 bits + 1%
 * outliers, save, bundle the page), serves it on 127.0.0.1 (recipes/browser/serve.ts), opens it
 * in Chromium headless through playwright-core (Debian's, else the @sparticuz/chromium dev dependency's), and checks:
 *   - the page's predictions equal those of the same packed files loaded in Node with
 *     loadQuantized (cpu backend) within PROB_TOLERANCE, on webgl (default), wasm and cpu;
 *   - the bytes the server sent for each model equal the sizes of its files on disk;
 *   - every damaged variant (truncated, malformed JSON, unknown version, wrong sizes, index out of
 *     range, missing file) is refused with the loader's InputError, and no tensor is left behind;
 *   - a Node builtin imported by our code makes the browser bundle fail.
 * Screenshots: out/browser/screenshot.png (models) and out/browser/screenshot_errors.png.
 * No skipping: when Chromium cannot start, the test fails and says how to install it.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { Browser } from 'playwright-core';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadQuantized } from '../../adapters/io/load_quantized.ts';
import { main as build, type BuildResult } from '../../recipes/browser/build.ts';
import { bundlePage } from '../../recipes/browser/bundle.ts';
import { launchChromium, runPage } from '../../recipes/browser/drive.ts';
import { serveStatic, type StaticServer } from '../../recipes/browser/serve.ts';
import { SIDE, exampleInput } from '../../recipes/browser/shapes.ts';
import type { LoadResult, PageResult } from '../../recipes/browser/manifest.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const OUT = path.join(ROOT, 'out', 'browser');

/**
 * Largest allowed |p_browser - p_node| over all softmax outputs. Both sides dequantize the same
 * bytes with the same JS code (bit-identical float32 weights); only the forward pass differs
 * (WebGL on SwiftShader, or wasm XNNPACK, against tfjs cpu: other summation orders, 256-term dot
 * products), which moves probabilities by about 1e-7..1e-6. 1e-4 leaves room and still catches
 * any wrong weight (a single wrong 4-bit code moves them by > 1e-3 here).
 */
const PROB_TOLERANCE = 1e-4;

/** The damaged variants build.ts writes and the loader message each must produce. */
const EXPECTED_ERRORS: Record<string, RegExp> = {
  // The bounded reader checks Content-Length against the declared size before reading the body.
  broken_truncated: /^Cannot fetch .*broken_truncated\/weights\.bin: the server sends \d+ bytes \(Content-Length\) but \d+ are declared \(truncated/,
  broken_json: /^Malformed packed model: \S+\/broken_json\/model\.json is not valid JSON/,
  broken_version: /^Unsupported packed model version 99: this loader reads version 2\./,
  broken_sizes: /^Malformed packed model: quantization\.weights\[\d+\]\.codes\.byteLength is \d+ but \d+ bytes are expected\./,
  broken_index: /^Malformed packed model: outlier index \d+ of \S+ is out of range \[0, \d+\)\./,
  broken_missing: /^Cannot fetch \S+\/broken_missing\/weights\.bin: HTTP 404/,
};

let built: BuildResult;
let server: StaticServer;
let browser: Browser;
/** Softmax outputs of each packed variant loaded in Node, [inputs][classes]. */
const nodeProbs = new Map<string, number[][]>();

async function diskSizes(dir: string): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  for (const f of await readdir(dir)) sizes.set(f, (await stat(path.join(dir, f))).size);
  return sizes;
}

function maxAbsDiff(a: number[][], b: number[][]): number {
  let m = 0;
  a.forEach((row, i) => row.forEach((v, j) => { m = Math.max(m, Math.abs(v - b[i][j])); }));
  return m;
}

function resultFor(r: PageResult, name: string): LoadResult {
  const found = r.results.find((x) => x.name === name);
  if (!found) throw new Error(`The page has no result for ${name}: ${r.results.map((x) => x.name).join(', ')}`);
  return found;
}

test.before(async () => {
  built = await build({ outDir: OUT });
  server = await serveStatic(OUT);
  browser = await launchChromium(); // Debian's chromium, else @sparticuz/chromium's; throws "Cannot start Chromium at ..."

  // Reference: the same packed files, loaded from disk in Node on the cpu backend.
  await tf.setBackend('cpu');
  const { x } = exampleInput();
  const before = tf.memory().numTensors;
  for (const v of built.manifest.variants) {
    const model = await loadQuantized(path.join(OUT, v.url));
    const probs = tf.tidy(() => (model.predict(tf.tensor2d(x, [x.length / (SIDE * SIDE), SIDE * SIDE])) as tf.Tensor).arraySync() as number[][]);
    model.dispose();
    nodeProbs.set(v.name, probs);
  }
  if (tf.memory().numTensors !== before) throw new Error(`Node reference leaked ${tf.memory().numTensors - before} tensors`);
});

test.after.always(async () => {
  await browser?.close();
  await server?.close();
});

test.serial('the page loads both packed models (default backend) and predicts like Node', async (t) => {
  server.reset();
  const { result, errors, page } = await runPage(browser, `${server.url}/index.html`);
  await page.screenshot({ path: path.join(OUT, 'screenshot.png'), fullPage: true });
  await page.close();

  t.is(result.fatal, undefined);
  t.deepEqual(errors, [], 'no uncaught error or console.error on the page');
  t.true(['webgl', 'wasm', 'cpu'].includes(result.backend));
  t.log(`page backend: ${result.backend} (webgl float32 textures: ${result.webglFloat32}); attempts: ${JSON.stringify(result.backendAttempts)}`);
  t.log(`Node accuracy on 300 fresh shapes: ${JSON.stringify(built.accuracy)}; build stages (ms): ${JSON.stringify(built.timings)}`);

  const float32 = resultFor(result, 'float32');
  t.true(float32.ok, float32.errorMessage);
  for (const v of built.manifest.variants) {
    const r = resultFor(result, v.name);
    t.true(r.ok, `${v.name}: ${r.errorName}: ${r.errorMessage}`);
    const diff = maxAbsDiff(r.probs!, nodeProbs.get(v.name)!);
    t.log(`${v.name}: max |p_browser - p_node| = ${diff.toExponential(2)} (tolerance ${PROB_TOLERANCE}); ` +
      `${r.bytesFetched} bytes vs float32 ${float32.bytesFetched} (${(float32.bytesFetched / r.bytesFetched).toFixed(1)}x); ` +
      `load ${r.loadMs.toFixed(0)} ms; predicted ${JSON.stringify(r.predicted)}`);
    t.true(diff <= PROB_TOLERANCE, `${v.name}: browser and Node probabilities differ by ${diff}`);
    t.deepEqual(r.predicted, nodeProbs.get(v.name)!.map((row) => row.indexOf(Math.max(...row))));
    t.deepEqual(r.predicted, result.inputLabels, `${v.name} classifies the six example shapes`);

    // Bytes: what the server sent for this folder = the files on disk = what the page counted.
    const disk = await diskSizes(path.join(OUT, path.dirname(v.url)));
    const diskTotal = [...disk.values()].reduce((a, b) => a + b, 0);
    t.deepEqual([...disk.keys()].sort(), ['model.json', 'weights.bin']);
    t.is(server.bytesUnder(`/${path.dirname(v.url)}/`), diskTotal);
    t.is(r.bytesFetched, diskTotal);
    t.is(v.bytes, diskTotal);
    const requests = server.requests.filter((q) => q.path.startsWith(`/${path.dirname(v.url)}/`));
    t.deepEqual(requests.map((q) => [path.basename(q.path), q.status]), [['model.json', 200], ['weights.bin', 200]], 'each file fetched once');

    // Progress: non-decreasing fractions ending at 1.
    const fractions = r.progress.map((p) => p.fraction);
    t.true(fractions.every((f, i) => i === 0 || f >= fractions[i - 1]), JSON.stringify(r.progress));
    t.is(fractions.at(-1), 1);
    t.is(r.tensorsAfter, r.tensorsBefore, 'the disposed model leaves no tensor');
  }
  const floatDisk = [...(await diskSizes(path.join(OUT, 'models', 'float32'))).values()].reduce((a, b) => a + b, 0);
  t.is(server.bytesUnder('/models/float32/'), floatDisk);
  t.is(float32.bytesFetched, floatDisk);
  // The point of the format: the 4-bit model downloads at least 6x fewer bytes than float32.
  t.true(resultFor(result, 'q4').bytesFetched * 6 < floatDisk);
});

test.serial('damaged files are refused with the loader\'s InputError and nothing is half-loaded', async (t) => {
  const names = built.manifest.broken.map((b) => b.name);
  t.deepEqual([...names].sort(), Object.keys(EXPECTED_ERRORS).sort());
  const { result, page } = await runPage(browser, `${server.url}/index.html?float32=0&variants=${names.join(',')}`);
  await page.screenshot({ path: path.join(OUT, 'screenshot_errors.png'), fullPage: true });
  await page.close();
  t.is(result.fatal, undefined);
  for (const name of names) {
    const r = resultFor(result, name);
    t.false(r.ok, `${name} must not load`);
    t.is(r.errorName, 'InputError', `${name}: ${r.errorName}: ${r.errorMessage}`);
    t.regex(r.errorMessage!, EXPECTED_ERRORS[name], name);
    t.is(r.probs, undefined);
    t.is(r.tensorsAfter, r.tensorsBefore, `${name}: no tensor left behind`);
    t.log(`${name}: ${r.errorMessage}`);
  }
  // The same damaged files read from disk in Node fail with the same message (except for I/O ones,
  // whose messages name a path or an HTTP status).
  const before = tf.memory().numTensors;
  for (const name of ['broken_version', 'broken_sizes', 'broken_index']) {
    const err = await t.throwsAsync(loadQuantized(path.join(OUT, 'models', name, 'model.json')), { name: 'InputError' });
    t.is(err?.message, resultFor(result, name).errorMessage ?? '(no message)', name);
  }
  // A truncated weights file: the same sizes, named as a file rather than an HTTP response.
  const err = await t.throwsAsync(loadQuantized(path.join(OUT, 'models', 'broken_truncated', 'model.json')), { name: 'InputError' });
  t.regex(err?.message ?? '', /^Cannot read .*broken_truncated\/weights\.bin: the file has \d+ bytes but \d+ are declared \(truncated/);
  t.is(tf.memory().numTensors, before);
});

test.serial('the wasm and cpu backends give the same predictions; wasm is served as application/wasm', async (t) => {
  for (const backend of ['wasm', 'cpu']) {
    server.reset();
    const { result, errors, page } = await runPage(browser, `${server.url}/index.html?backend=${backend}&float32=0`);
    await page.close();
    t.is(result.fatal, undefined);
    t.deepEqual(errors, []);
    t.is(result.backend, backend);
    for (const v of built.manifest.variants) {
      const r = resultFor(result, v.name);
      t.true(r.ok, r.errorMessage);
      const diff = maxAbsDiff(r.probs!, nodeProbs.get(v.name)!);
      t.log(`${backend} ${v.name}: max |p_browser - p_node| = ${diff.toExponential(2)}`);
      t.true(diff <= PROB_TOLERANCE);
    }
    const wasmRequests = server.requests.filter((q) => q.path.endsWith('.wasm'));
    if (backend === 'wasm') {
      t.true(wasmRequests.length >= 1);
      for (const q of wasmRequests) t.is(q.contentType, 'application/wasm', q.path);
    } else {
      t.deepEqual(wasmRequests, [], 'the cpu backend fetches no wasm');
    }
  }
});

test.serial('the browser bundle contains the loader and fails when our code imports a Node builtin', async (t) => {
  t.true(built.bundleInputs.includes('adapters/io/load_quantized.ts'));
  const ours = built.bundleInputs.filter((f) => !f.startsWith('node_modules/') && !f.startsWith('(disabled):'));
  t.deepEqual(ours.filter((f) => !/^(adapters|plugins|recipes)\//.test(f)), []);
  const dir = path.join(ROOT, 'out', 'browser_guard');
  await mkdir(dir, { recursive: true });
  const entry = path.join(dir, 'entry.ts');
  await writeFile(entry, "import { readFileSync } from 'node:fs';\nconsole.log(readFileSync);\n");
  const err = await t.throwsAsync(bundlePage(dir, false, entry));
  t.regex(err!.message, /imports the Node builtin "node:fs"/);
});
