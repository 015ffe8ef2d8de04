/**
 * Measures what the packed format buys in delivery: bytes and load time in Chromium of the
 * example model as float32 (tfjs model.json + weights.bin) against packed QuantEase 4-bit and
 * 3-bit + 1% outliers, and prints a markdown table for the README.
 *
 * Load time = the page's own timer around the load call (fetch + parse + dequantize + build the
 * LayersModel), each model in a fresh page, median of REPEATS; once over localhost and once with
 * the network throttled through the DevTools protocol to THROTTLE_MBIT / THROTTLE_RTT_MS.
 *
 * Run: npx tsx recipes/browser/measure.ts [hidden units, default 256]
 */
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { main as build } from './build.ts';
import { launchChromium, runPage, throttle } from './drive.ts';
import { serveStatic } from './serve.ts';
import type { ModelEntry } from './manifest.ts';

// ---- Configuration ----

/** Fresh page loads per model and network; the median is reported. */
const REPEATS = 7;
/** A slow connection where download size dominates: a modest mobile or DSL link. */
const THROTTLE_MBIT = 10;
const THROTTLE_RTT_MS = 40;

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface MeasureRow {
  name: string;
  label: string;
  bytes: number;
  ratio: number;
  accuracy: number;
  /** Median and fastest load, ms. */
  localMs: number;
  localMinMs: number;
  throttledMs: number;
  throttledMinMs: number;
  backend: string;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Builds into out/browser_measure, serves it, and times every model in Chromium. */
export async function main(hidden = 256): Promise<{ rows: MeasureRow[]; table: string }> {
  const outDir = path.join(ROOT, 'out', 'browser_measure');
  const built = await build({ outDir, model: { hidden } });
  const server = await serveStatic(outDir);
  const browser = await launchChromium();
  const rows: MeasureRow[] = [];
  try {
    const entries: ModelEntry[] = [built.manifest.float32, ...built.manifest.variants];
    const urlFor = (e: ModelEntry) => `${server.url}/index.html${e.kind === 'float32' ? '?variants=' : `?float32=0&variants=${e.name}`}`;
    const times = new Map(entries.map((e) => [e.name, { local: [] as number[], slow: [] as number[] }]));
    let backend = '';
    // One discarded warm-up load, then the models interleaved so that background load hits all alike.
    await (await runPage(browser, urlFor(entries[0]), 60_000)).page.close();
    for (let i = 0; i < REPEATS; i++) {
      for (const net of ['local', 'slow'] as const) {
        for (const e of entries) {
          const run = await runPage(browser, urlFor(e), 60_000,
            net === 'slow' ? (p) => throttle(p, THROTTLE_MBIT, THROTTLE_RTT_MS) : undefined);
          await run.page.close();
          const r = run.result.results.find((x) => x.name === e.name);
          if (!r?.ok) throw new Error(`${e.name} did not load: ${r?.errorMessage ?? run.result.fatal}`);
          if (r.bytesFetched !== e.bytes) throw new Error(`${e.name}: page fetched ${r.bytesFetched} bytes, files are ${e.bytes}`);
          times.get(e.name)![net].push(r.loadMs);
          backend = run.result.backend;
        }
      }
    }
    for (const e of entries) {
      const t = times.get(e.name)!;
      rows.push({
        name: e.name, label: e.label, bytes: e.bytes, ratio: built.manifest.float32.bytes / e.bytes,
        accuracy: built.accuracy[e.name], localMs: median(t.local), localMinMs: Math.min(...t.local),
        throttledMs: median(t.slow), throttledMinMs: Math.min(...t.slow), backend,
      });
    }
  } finally {
    await browser.close();
    await server.close();
  }
  const table = [
    `Example model: ${built.manifest.architecture}; Chromium ${browser.version()} headless, backend ${rows[0]?.backend}; ` +
      `load time = median (fastest) of ${REPEATS} fresh page loads, each timing fetch + decode + building the LayersModel.`,
    '',
    `| model | bytes downloaded | vs float32 | load, localhost | load at ${THROTTLE_MBIT} Mbit/s, ${THROTTLE_RTT_MS} ms RTT | accuracy (300 shapes) |`,
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map((r) =>
      `| ${r.label} | ${r.bytes.toLocaleString('en-US')} | ${r.name === 'float32' ? '1x' : `${r.ratio.toFixed(1)}x smaller`} | ` +
      `${r.localMs.toFixed(0)} ms (${r.localMinMs.toFixed(0)}) | ${r.throttledMs.toFixed(0)} ms (${r.throttledMinMs.toFixed(0)}) | ${(r.accuracy * 100).toFixed(1)}% |`),
  ].join('\n');
  return { rows, table };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { table } = await main(process.argv[2] ? Number(process.argv[2]) : undefined);
  console.log(table);
}
