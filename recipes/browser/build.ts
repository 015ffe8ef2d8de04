/**
 * Builds the browser example into one folder (default out/browser/):
 *
 *   index.html, page.js        the page, bundled by esbuild for the browser (fails on Node builtins)
 *   wasm/*.wasm                the tfjs wasm backend binaries (page falls back to wasm without webgl)
 *   models/float32/            the trained model as plain tfjs model.json + weights.bin
 *   models/q4/, models/q3o/    packed QuantEase 4-bit, and 3-bit + 1% outliers (saveQuantized)
 *   models/broken_(name)/      damaged copies of the packed models (truncated, malformed, ...),
 *                              which the page must refuse with a clear error
 *   models/manifest.json       what is where, with every file's size (see manifest.ts)
 *
 * Run: npx tsx recipes/browser/build.ts [outDir]   then   npx tsx recipes/browser/serve.ts [outDir]
 */
import { copyFile, mkdir, readFile, readdir, rm, stat, writeFile, truncate, unlink, cp } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { quantizeModel, type QuantizeModelOptions } from 'tfjs-sam-quantease/quantize';
import { saveQuantized } from 'tfjs-sam-quantease/io/save';
import { selectBackend } from 'tfjs-sam-quantease/backend';
import { checksum, type AffineEntry, type PackedModelJSON } from 'tfjs-sam-quantease/io';
import { calibrationInputs, evaluateAccuracy, trainExampleModel, type ExampleModelOptions } from './example_model.ts';
import { saveFloat32 } from './save_float32.ts';
import { bundlePage } from './bundle.ts';
import { CLASS_NAMES, SIDE } from './shapes.ts';
import { MANIFEST_PATH, MODELS_DIR, WASM_DIR, type Manifest, type ModelEntry } from './manifest.ts';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');

// ---- Configuration (one line of guidance each) ----

/** Where everything goes; the test serves this folder. */
export const DEFAULT_OUT_DIR = path.join(ROOT, 'out', 'browser');
/** Calibration rows for quantization: a few hundred shapes cover every class many times. */
const CALIBRATION_ROWS = 512;
/** The two packed variants the page shows. */
export const VARIANTS: ReadonlyArray<{ name: string; label: string; options: QuantizeModelOptions }> = [
  { name: 'q4', label: 'QuantEase 4-bit', options: { method: 'quantease', bits: 4 } },
  { name: 'q3o', label: 'QuantEase 3-bit + 1% outliers', options: { method: 'quantease', bits: 3, outliers: { fraction: 0.01 } } },
];

export interface BuildOptions {
  outDir?: string;
  /** Passed to trainExampleModel (hidden units, epochs, ...). */
  model?: ExampleModelOptions;
  /** QuantEase sweeps per layer (the hook's default is 30). */
  sweeps?: number;
  /** Minify page.js. Default true. */
  minify?: boolean;
}

export interface BuildResult {
  outDir: string;
  manifest: Manifest;
  /** Accuracy on 300 fresh shapes: float32 model, then each variant (as quantized in Node). */
  accuracy: Record<string, number>;
  /** Quantization report of each variant, as quantizeModel returned it. */
  reports: Record<string, unknown>;
  bundleBytes: number;
  /** Files esbuild put into page.js, relative to the repository root ("(disabled):fs" = a package's browser-field stub). */
  bundleInputs: string[];
  /** Wall time of each stage, ms. */
  timings: Record<string, number>;
}

// ---- Models ----

async function dirSizes(dir: string): Promise<Record<string, number>> {
  const files: Record<string, number> = {};
  for (const name of (await readdir(dir)).sort()) files[name] = (await stat(path.join(dir, name))).size;
  return files;
}

async function entryFor(outDir: string, name: string, label: string, kind: ModelEntry['kind'], broken?: string): Promise<ModelEntry> {
  const files = await dirSizes(path.join(outDir, MODELS_DIR, name));
  const bytes = Object.values(files).reduce((a, b) => a + b, 0);
  return { name, label, kind, url: `${MODELS_DIR}/${name}/model.json`, files, bytes, ...(broken ? { broken } : {}) };
}

/**
 * Damaged copies of the packed variants, one per failure the loader must report: each is a
 * separate folder so the page can try them one by one. Returns [name, label, how it was broken].
 */
async function writeBrokenVariants(modelsDir: string): Promise<Array<[string, string, string]>> {
  const made: Array<[string, string, string]> = [];
  const copyOf = async (from: string, to: string) => {
    await rm(path.join(modelsDir, to), { recursive: true, force: true });
    await cp(path.join(modelsDir, from), path.join(modelsDir, to), { recursive: true });
    return path.join(modelsDir, to);
  };
  const readJson = async (dir: string) => JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8')) as PackedModelJSON;
  const writeJson = (dir: string, json: unknown) => writeFile(path.join(dir, 'model.json'), JSON.stringify(json));

  let dir = await copyOf('q4', 'broken_truncated');
  const binSize = (await stat(path.join(dir, 'weights.bin'))).size;
  await truncate(path.join(dir, 'weights.bin'), Math.floor(binSize / 2));
  made.push(['broken_truncated', '4-bit, weights.bin cut in half', `weights.bin truncated from ${binSize} to ${Math.floor(binSize / 2)} bytes`]);

  dir = await copyOf('q4', 'broken_json');
  const text = await readFile(path.join(dir, 'model.json'), 'utf8');
  await writeFile(path.join(dir, 'model.json'), text.slice(0, Math.floor(text.length / 2)));
  made.push(['broken_json', '4-bit, model.json cut in half', 'model.json is not valid JSON (second half removed)']);

  dir = await copyOf('q4', 'broken_version');
  const vjson = await readJson(dir);
  vjson.formatVersion = 99;
  await writeJson(dir, vjson);
  made.push(['broken_version', '4-bit, unknown format version', 'formatVersion set to 99']);

  dir = await copyOf('q4', 'broken_sizes');
  const sjson = await readJson(dir);
  const firstAffine = sjson.quantization.weights.find((e): e is AffineEntry => e.encoding === 'affine')!;
  firstAffine.codes.byteLength -= 1;
  await writeJson(dir, sjson);
  made.push(['broken_sizes', '4-bit, wrong section size', `${firstAffine.name}: codes.byteLength one byte short`]);

  dir = await copyOf('q3o', 'broken_index');
  const ijson = await readJson(dir);
  const withOutliers = ijson.quantization.weights.find((e): e is AffineEntry => e.encoding === 'affine' && (e.outliers?.count ?? 0) > 0);
  if (withOutliers?.outliers) {
    // Point the last outlier past the end of W and keep the checksum valid, so only the index is wrong.
    const binPath = path.join(dir, ijson.weightsFile);
    const bin = new Uint8Array(await readFile(binPath));
    const { indices, count } = withOutliers.outliers;
    new DataView(bin.buffer, bin.byteOffset).setInt32(indices.offset + 4 * (count - 1), withOutliers.rows * withOutliers.cols + 7, true);
    ijson.weightsChecksum = checksum(bin);
    await writeFile(binPath, bin);
    await writeJson(dir, ijson);
    made.push(['broken_index', '3-bit + outliers, outlier index out of range', `${withOutliers.name}: last outlier index set to rows*cols+7 (checksum updated)`]);
  } else {
    await rm(dir, { recursive: true, force: true });
  }

  dir = await copyOf('q4', 'broken_missing');
  await unlink(path.join(dir, 'weights.bin'));
  made.push(['broken_missing', '4-bit, weights.bin missing', 'weights.bin deleted (HTTP 404)']);
  return made;
}

// ---- Main ----

/** Trains, quantizes, saves and bundles everything into `outDir`. Selects the tfjs backend with selectBackend (wasm here). */
export async function main(options: BuildOptions = {}): Promise<BuildResult> {
  const outDir = path.resolve(options.outDir ?? DEFAULT_OUT_DIR);
  const modelsDir = path.join(outDir, MODELS_DIR);
  const timings: Record<string, number> = {};
  const lap = (() => { let t = Date.now(); return (name: string) => { const n = Date.now(); timings[name] = n - t; t = n; }; })();

  await rm(outDir, { recursive: true, force: true });
  await mkdir(path.join(outDir, WASM_DIR), { recursive: true });
  await mkdir(modelsDir, { recursive: true });

  // Stage 1: bundle the page (esbuild runs in its own process: let it overlap with training)
  // and copy the static files.
  const bundling = bundlePage(outDir, options.minify ?? true);
  bundling.catch(() => {}); // awaited below; this only keeps an early failure from being "unhandled"
  await copyFile(path.join(HERE, 'index.html'), path.join(outDir, 'index.html'));
  const wasmDist = path.join(ROOT, 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist');
  for (const f of (await readdir(wasmDist)).filter((f) => f.endsWith('.wasm'))) {
    await copyFile(path.join(wasmDist, f), path.join(outDir, WASM_DIR, f));
  }
  lap('copy');

  // Stage 2: train the float32 model (wasm with the project's training kernels is ~50x faster than cpu).
  await selectBackend({ quiet: true });
  const { model, accuracy: floatAccuracy } = await trainExampleModel(options.model);
  await saveFloat32(model, path.join(modelsDir, 'float32'));
  const params = model.countParams();
  const widths = [SIDE * SIDE, ...model.layers.map((l) => Number(l.getConfig().units))];
  lap('train');

  // Stage 3: quantize and save each packed variant.
  const calibration = calibrationInputs(CALIBRATION_ROWS);
  const accuracy: Record<string, number> = { float32: floatAccuracy };
  const reports: Record<string, unknown> = {};
  for (const v of VARIANTS) {
    const opts: QuantizeModelOptions = { ...v.options, ...(options.sweeps !== undefined ? { sweeps: options.sweeps } : {}) };
    const quantized = await quantizeModel(model, calibration, opts);
    const { model: qModel, report } = quantized;
    await saveQuantized(quantized, path.join(modelsDir, v.name));
    accuracy[v.name] = evaluateAccuracy(qModel, 300, (options.model?.seed ?? 7) + 200);
    reports[v.name] = report;
    qModel.dispose();
    lap(`quantize_${v.name}`);
  }
  calibration.dispose();
  model.dispose();

  const bundle = await bundling;
  lap('bundle (rest)');

  // Stage 4: broken copies and the manifest.
  const broken = await writeBrokenVariants(modelsDir);
  const manifest: Manifest = {
    architecture: `${widths.join('-')} MLP (${params.toLocaleString('en-US')} weights)`,
    classNames: [...CLASS_NAMES],
    float32: await entryFor(outDir, 'float32', 'float32 (tfjs model.json)', 'float32'),
    variants: await Promise.all(VARIANTS.map((v) => entryFor(outDir, v.name, v.label, 'packed'))),
    broken: await Promise.all(broken.map(([name, label, how]) => entryFor(outDir, name, label, 'packed', how))),
  };
  await writeFile(path.join(outDir, MANIFEST_PATH), JSON.stringify(manifest, null, 2));
  lap('manifest');
  return { outDir, manifest, accuracy, reports, bundleBytes: bundle.bytes, bundleInputs: bundle.inputs, timings };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const r = await main({ outDir: process.argv[2] });
  console.log(`Built ${r.outDir} (page.js ${r.bundleBytes} bytes)`);
  console.table(Object.fromEntries([r.manifest.float32, ...r.manifest.variants].map((e) => [e.name, { bytes: e.bytes, accuracy: r.accuracy[e.name] }])));
  console.log('timings (ms):', r.timings);
}
