/**
 * The example page: loads the float32 model and its packed quantized variants over HTTP, runs
 * each on the same fixed shapes, and shows the predictions, the bytes downloaded against the
 * float32 model and the load time. Everything the page measures is published on
 * `window.__result` (a PageResult) for the end-to-end test.
 *
 * Query parameters (all optional):
 *   backend=auto|webgl|wasm|cpu   default auto: webgl, else wasm, else cpu
 *   variants=q4,q3o               model folders to load with loadQuantized (default: the manifest's variants)
 *   float32=0                     skip the float32 reference load
 *
 * Bundled for the browser by build.ts (esbuild, platform browser); no Node APIs.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { loadQuantized } from 'tfjs-sam-quantease/io';
import { CLASS_NAMES, SIDE, exampleInput } from './shapes.ts';
import {
  MANIFEST_PATH, WASM_DIR,
  type LoadResult, type Manifest, type ModelEntry, type PageResult, type ProgressRecord,
} from './manifest.ts';

declare global {
  interface Window {
    __result?: PageResult;
  }
}

const BACKEND_ORDER = ['webgl', 'wasm', 'cpu'] as const;

// ---- Backend: the first of webgl, wasm, cpu that initializes (or the one asked for) ----

async function pickBackend(wanted: string): Promise<PageResult['backendAttempts']> {
  // The wasm binaries are served next to the page; tfjs picks the SIMD one when the browser can.
  setWasmPaths(new URL(`${WASM_DIR}/`, location.href).href);
  const order = wanted === 'auto' ? [...BACKEND_ORDER] : [wanted];
  const attempts: PageResult['backendAttempts'] = [];
  for (const name of order) {
    try {
      const ok = await tf.setBackend(name);
      if (!ok) throw new Error(`tf.setBackend('${name}') returned false`);
      await tf.ready();
      attempts.push({ name, ok: true });
      return attempts;
    } catch (e) {
      attempts.push({ name, ok: false, error: String((e as Error)?.message ?? e) });
    }
  }
  throw new Error(`No tfjs backend could start: ${attempts.map((a) => `${a.name}: ${a.error}`).join('; ')}`);
}

// ---- A fetch that counts what it downloads ----

interface CountingFetch {
  fetch: typeof fetch;
  bytes: () => number;
  urls: string[];
}

function countingFetch(): CountingFetch {
  let bytes = 0;
  const urls: string[] = [];
  const wrapped = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    urls.push(url);
    const res = await fetch(input, { ...init, cache: 'no-store' });
    // Read the body once to count it, then hand the loader an equivalent response.
    const body = await res.arrayBuffer();
    bytes += body.byteLength;
    return new Response(body, { status: res.status, statusText: res.statusText, headers: res.headers });
  };
  return { fetch: wrapped as typeof fetch, bytes: () => bytes, urls };
}

// ---- One model: load, predict, dispose ----

async function runOne(entry: ModelEntry, x: tf.Tensor2D, onProgress: (fraction: number) => void): Promise<LoadResult> {
  const counter = countingFetch();
  const progress: ProgressRecord[] = [];
  const tensorsBefore = tf.memory().numTensors;
  const url = new URL(entry.url, location.href).href;
  const t0 = performance.now();
  const result: LoadResult = {
    name: entry.name, label: entry.label, ok: false, bytesFetched: 0, urlsFetched: counter.urls,
    loadMs: 0, progress, tensorsBefore, tensorsAfter: tensorsBefore,
  };
  let model: tfl.LayersModel | null = null;
  try {
    if (entry.kind === 'float32') {
      model = await tfl.loadLayersModel(tf.io.browserHTTPRequest(url, {
        fetchFunc: counter.fetch,
        onProgress: (f: number) => { progress.push({ ms: performance.now() - t0, fraction: f, stage: 'tfjs' }); onProgress(f); },
      }));
    } else {
      model = await loadQuantized(url, {
        fetch: counter.fetch,
        onProgress: (fraction: number, stage: string) => {
          progress.push({ ms: performance.now() - t0, fraction, stage });
          onProgress(fraction);
        },
      });
    }
    result.loadMs = performance.now() - t0;
    const t1 = performance.now();
    const y = model.predict(x) as tf.Tensor;
    const probs = (await y.array()) as number[][];
    y.dispose();
    result.predictMs = performance.now() - t1;
    result.probs = probs;
    result.predicted = probs.map((row) => row.indexOf(Math.max(...row)));
    result.ok = true;
  } catch (e) {
    result.loadMs = performance.now() - t0;
    const err = e as Error;
    result.errorName = err?.name ?? 'Error';
    result.errorMessage = String(err?.message ?? e);
  } finally {
    model?.dispose();
    result.bytesFetched = counter.bytes();
    result.tensorsAfter = tf.memory().numTensors;
  }
  return result;
}

// ---- Display ----

const $ = (id: string) => document.getElementById(id) as HTMLElement;

function formatBytes(n: number): string {
  return n >= 1e6 ? `${(n / 1e6).toFixed(2)} MB` : `${(n / 1e3).toFixed(1)} kB`;
}

function drawInputs(x: Float32Array, labels: Int32Array): void {
  const box = $('inputs');
  for (let i = 0; i < labels.length; i++) {
    const fig = document.createElement('figure');
    const canvas = document.createElement('canvas');
    canvas.width = SIDE;
    canvas.height = SIDE;
    const ctx = canvas.getContext('2d')!;
    const img = ctx.createImageData(SIDE, SIDE);
    for (let p = 0; p < SIDE * SIDE; p++) {
      const v = 255 - Math.round(255 * x[i * SIDE * SIDE + p]);
      img.data.set([v, v, v, 255], p * 4);
    }
    ctx.putImageData(img, 0, 0);
    const cap = document.createElement('figcaption');
    cap.textContent = `#${i}: ${CLASS_NAMES[labels[i]]}`;
    fig.append(canvas, cap);
    box.append(fig);
  }
}

function addRow(entry: ModelEntry): { progress: HTMLProgressElement; fill: (r: LoadResult, float32Bytes: number | null, labels: Int32Array) => void } {
  const tr = document.createElement('tr');
  tr.dataset.model = entry.name;
  const cells = Array.from({ length: 5 }, () => document.createElement('td'));
  cells[0].textContent = entry.label;
  cells[1].className = cells[2].className = cells[3].className = 'num';
  const progress = document.createElement('progress');
  progress.max = 1;
  cells[4].append(progress);
  tr.append(...cells);
  $('results').querySelector('tbody')!.append(tr);
  return {
    progress,
    fill: (r, float32Bytes, labels) => {
      cells[1].textContent = formatBytes(r.bytesFetched);
      cells[2].textContent = entry.kind === 'float32' ? 'reference'
        : r.ok && float32Bytes ? `${(r.bytesFetched / float32Bytes * 100).toFixed(1)}% (${(float32Bytes / r.bytesFetched).toFixed(1)}x smaller)` : '–';
      cells[3].textContent = `${r.loadMs.toFixed(0)} ms`;
      if (!r.ok) {
        cells[4].innerHTML = '';
        cells[4].className = 'bad';
        cells[4].textContent = `${r.errorName}: ${r.errorMessage}`;
        const box = document.createElement('div');
        box.className = 'err';
        box.textContent = `${entry.label} (${entry.url}) failed to load; nothing was kept (tensors ${r.tensorsBefore} -> ${r.tensorsAfter}).\n${r.errorName}: ${r.errorMessage}`;
        $('errors').append(box);
        return;
      }
      const right = r.predicted!.filter((p, i) => p === labels[i]).length;
      cells[4].innerHTML = '';
      const summary = document.createElement('div');
      summary.className = right === labels.length ? 'ok' : 'bad';
      summary.textContent = `${right}/${labels.length} correct`;
      const detail = document.createElement('div');
      detail.textContent = r.predicted!.map((p, i) => `#${i} ${CLASS_NAMES[p]} ${(r.probs![i][p] * 100).toFixed(1)}%`).join(' · ');
      cells[4].append(summary, detail);
    },
  };
}

// ---- Main ----

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const { x: xData, labels } = exampleInput();
  drawInputs(xData, labels);
  const result: PageResult = {
    done: true, backend: '', backendAttempts: [], webglFloat32: null, inputLabels: Array.from(labels), results: [],
  };
  try {
    result.backendAttempts = await pickBackend(params.get('backend') ?? 'auto');
    result.backend = tf.getBackend();
    if (result.backend === 'webgl') result.webglFloat32 = tf.env().getBool('WEBGL_RENDER_FLOAT32_ENABLED');
    const manifestRes = await fetch(MANIFEST_PATH, { cache: 'no-store' });
    if (!manifestRes.ok) throw new Error(`${MANIFEST_PATH}: HTTP ${manifestRes.status}`);
    const manifest = (await manifestRes.json()) as Manifest;
    $('arch').textContent = `A ${manifest.architecture}`;
    const all = [...manifest.variants, ...manifest.broken];
    const names = params.get('variants')?.split(',').filter(Boolean) ?? manifest.variants.map((v) => v.name);
    const entries: ModelEntry[] = [];
    if (params.get('float32') !== '0') entries.push(manifest.float32);
    for (const n of names) {
      const e = all.find((v) => v.name === n);
      if (!e) throw new Error(`Unknown variant ${JSON.stringify(n)}. Known: ${all.map((v) => v.name).join(', ')}.`);
      entries.push(e);
    }
    $('status').textContent = `Backend: ${result.backend}${result.backendAttempts.length > 1 ? ` (after ${result.backendAttempts.filter((a) => !a.ok).map((a) => a.name).join(', ')} failed)` : ''}. Loading ${entries.length} model(s)…`;
    const x = tf.tensor2d(xData, [labels.length, SIDE * SIDE]);
    let float32Bytes: number | null = null;
    for (const entry of entries) {
      const row = addRow(entry);
      const r = await runOne(entry, x, (f) => { row.progress.value = f; });
      if (entry.kind === 'float32' && r.ok) float32Bytes = r.bytesFetched;
      row.fill(r, float32Bytes ?? manifest.float32.bytes, labels);
      result.results.push(r);
    }
    x.dispose();
    $('status').textContent = `Backend: ${result.backend}. Done: ${result.results.filter((r) => r.ok).length} of ${result.results.length} model(s) loaded.`;
  } catch (e) {
    result.fatal = String((e as Error)?.stack ?? e);
    $('status').textContent = `Failed: ${(e as Error)?.message ?? e}`;
    $('status').className = 'bad';
  }
  window.__result = result;
}

void main();
