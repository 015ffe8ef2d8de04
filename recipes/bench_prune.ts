/**
 * Benchmark of the layer pruners on LLM-like layer problems (a script, not a test).
 *
 *   npm run bench:prune                       # in = out = 256 and 512, n = 4096
 *   npm run bench:prune -- --quick            # in = out = 64, n = 512: seconds
 *   npm run bench:prune -- --sizes 512 --patterns 50%,2:4
 *
 * Problems: the generator of bench_quant.ts (correlated features with a power-law spectrum and
 * outlier channels 10-100x larger; heavy-tailed W). Prints a markdown table per size: relative
 * error tr(D S D^T) / tr(W S W^T) and seconds per method and pattern, l0 / SparseGPT, and the
 * certified optimality gap of l0's result.
 */
import * as tf from '@tensorflow/tfjs-core';
import { pruneLayer, type PruneMethod, type SparsityPattern } from 'tfjs-sam-quantease/prune';
import { selectBackend } from 'tfjs-sam-quantease/backend';
import { makeLayerProblem } from './bench_quant.ts';
import { isMain, runMain } from './lib/args.ts';

const CALIBRATION_ROWS = 4096;  // rows of X behind S
const METHODS: PruneMethod[] = ['magnitude', 'wanda', 'sparsegpt', 'l0'];
const PATTERNS: Record<string, SparsityPattern> = {
  '50%': { kind: 'unstructured', fraction: 0.5 },
  '70%': { kind: 'unstructured', fraction: 0.7 },
  '90%': { kind: 'unstructured', fraction: 0.9 },
  '2:4': { kind: 'nm', n: 2, m: 4 },
  'columns 50%': { kind: 'columns', fraction: 0.5 },
};

export interface PruneBenchRow {
  size: number;
  pattern: string;
  method: PruneMethod;
  relativeError: number;
  seconds: number;
  gap: number;
  lowerBoundMethod: string;
}

export async function benchPrune(sizes: number[], patterns: string[], rows = CALIBRATION_ROWS): Promise<PruneBenchRow[]> {
  const out: PruneBenchRow[] = [];
  for (const size of sizes) {
    const problem = makeLayerProblem(size, size, rows, 7);
    for (const label of patterns) {
      for (const method of METHODS) {
        const t0 = performance.now();
        const r = pruneLayer(problem, { method, pattern: PATTERNS[label], lowerBound: method === 'l0' ? 'auto' : 'none' });
        r.weight.dispose();
        out.push({ size, pattern: label, method, relativeError: r.stats.relativeError, seconds: (performance.now() - t0) / 1000,
          gap: r.stats.gap, lowerBoundMethod: r.stats.lowerBoundMethod });
        process.stderr.write(`  ${size} ${label} ${method}: ${r.stats.relativeError.toExponential(3)} in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
      }
    }
    tf.dispose([problem.weight, problem.sigma]);
  }
  return out;
}

export function formatPruneTable(rows: PruneBenchRow[]): string {
  const lines = ['| in = out | pattern | magnitude | Wanda | SparseGPT | l0 | l0 / SparseGPT | l0 gap (bound) | seconds (mag / Wanda / SparseGPT / l0) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |'];
  const keys = [...new Set(rows.map((r) => `${r.size}|${r.pattern}`))];
  for (const key of keys) {
    const [size, pattern] = key.split('|');
    const by = Object.fromEntries(rows.filter((r) => `${r.size}|${r.pattern}` === key).map((r) => [r.method, r]));
    const e = (m: string) => by[m].relativeError.toExponential(3);
    lines.push(`| ${size} | ${pattern} | ${e('magnitude')} | ${e('wanda')} | ${e('sparsegpt')} | **${e('l0')}** | ` +
      `${(by.l0.relativeError / by.sparsegpt.relativeError).toFixed(3)} | ${(100 * by.l0.gap).toFixed(1)}% (${by.l0.lowerBoundMethod}) | ` +
      `${METHODS.map((m) => by[m].seconds.toFixed(1)).join(' / ')} |`);
  }
  return lines.join('\n');
}

export async function main(argv = process.argv.slice(2)): Promise<string> {
  const quick = argv.includes('--quick');
  const arg = (name: string) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : undefined; };
  const sizes = (arg('--sizes') ?? (quick ? '64' : '256,512')).split(',').map(Number);
  const patterns = (arg('--patterns') ?? Object.keys(PATTERNS).join(',')).split(',');
  for (const p of patterns) if (!PATTERNS[p]) throw new Error(`Unknown pattern ${p}; choose from ${Object.keys(PATTERNS).join(', ')}`);
  await selectBackend({ quiet: true });
  const table = formatPruneTable(await benchPrune(sizes, patterns, quick ? 512 : CALIBRATION_ROWS));
  console.log(table);
  return table;
}

if (isMain(import.meta.url)) runMain(main);
