/**
 * The QuantEase in-block kernel: the WebAssembly SIMD kernel and its JS twin give the same bits
 * on the same inputs, both equal a plain right-looking reference (the textbook column-by-column
 * update), a whole quantEase run is identical with either, the committed bytes match the source,
 * and the switch (option / environment variable) is validated.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import '@tensorflow/tfjs-backend-cpu';
import { createInnerSweeper, kernelModule, resolveKernelChoice, KERNEL_ENV_VAR } from '../../../plugins/quantease/kernels/inner_sweep.ts';
import * as innerSweepWasm from '../../../plugins/quantease/kernels/inner_sweep_wasm.ts';
import * as gptqBlockWasm from '../../../plugins/quantease/kernels/gptq_block_wasm.ts';
import { KERNELS, compilerVersion, sourceHash, sourcePath } from '../../../plugins/quantease/kernels/build_kernels.ts';
import { createGptqBlockRunner } from '../../../plugins/quantease/kernels/gptq_block.ts';
import { gptq } from '../../../plugins/quantease/gptq.ts';
import { invertLowerWasm } from '../../../plugins/quantease/kernels/triangular_inverse.ts';
import { readRange } from '../../../plugins/quantease/kernels/read_rows.ts';
import { quantEase } from '../../../plugins/quantease/quantease.ts';
import { fitGrid, maxCode } from '../../../plugins/quantease/grid.ts';
import { OptionError } from '../../../plugins/core/errors.ts';
import type { Grid } from '../../../plugins/quantease/types.ts';
import { correlatedProblem, rng, gaussian } from './helpers.ts';

test.before(async () => {
  await tf.setBackend('wasm');
});

/** Bitwise equality of two float arrays (distinguishes -0 and +0, NaN payloads). */
function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return ua.every((x, i) => x === ub[i]);
}

interface Case {
  rows: number; sw: number; c0: number; groups: number; rounded: boolean; withLeft: boolean; zeroDiag: boolean; bits: number;
}

/** A random sub-block: grid fitted on W, S = A A^T (some diagonal entries zeroed with their row/column). */
function makeCase(c: Case, seed: number) {
  const g = gaussian(rng(seed));
  const cols = c.c0 + c.sw;
  const groupSize = Math.ceil(cols / c.groups);
  const w = Float32Array.from({ length: c.rows * cols }, () => g() * 0.5);
  const grid = fitGrid(w, c.rows, cols, { bits: c.bits, groupSize, symmetric: false });
  const a = Float64Array.from({ length: c.sw * (c.sw + 3) }, () => g());
  const sBB = new Float64Array(c.sw * c.sw);
  for (let i = 0; i < c.sw; i++) {
    for (let j = 0; j < c.sw; j++) {
      let acc = 0;
      for (let k = 0; k < c.sw + 3; k++) acc += a[i * (c.sw + 3) + k] * a[j * (c.sw + 3) + k];
      sBB[i * c.sw + j] = Math.fround(acc);
    }
  }
  if (c.zeroDiag) for (let k = 0; k < c.sw; k++) { sBB[1 * c.sw + k] = 0; sBB[k * c.sw + 1] = 0; } // column 1 does not enter f
  const n = c.sw * c.rows;
  // What^T and T^T for the sub-block's columns (transposed: [sw, rows])
  const target = new Float32Array(n);
  for (let j = 0; j < c.sw; j++) for (let r = 0; r < c.rows; r++) target[j * c.rows + r] = w[r * cols + c.c0 + j];
  const what = Float32Array.from(target, (x, i) => (i % 3 === 0 ? x : Math.fround(x + 0.1 * g())));
  const pb = Float32Array.from({ length: n }, () => Math.fround(g() * 2));
  const left = c.withLeft ? Float32Array.from({ length: n }, () => Math.fround(g())) : null;
  return { grid, sBB, what, target, pb, left };
}

/** The textbook right-looking update in float64 (P for every later column updated after each column). */
function reference(c: Case, k: ReturnType<typeof makeCase>, grid: Grid) {
  const { rows, sw, c0 } = c;
  const what = Float32Array.from(k.what);
  const dT = new Float32Array(sw * rows);
  const p = Float64Array.from({ length: sw * rows }, (_, i) => (k.left ? Math.fround(k.pb[i] + k.left[i]) : k.pb[i]));
  const maxq = maxCode(grid.bits);
  let moved = 0;
  for (let jj = 0; jj < sw; jj++) {
    const sjj = k.sBB[jj * sw + jj];
    for (let r = 0; r < rows; r++) {
      const old = what[jj * rows + r];
      const x = sjj > 0 ? old + p[jj * rows + r] / sjj : k.target[jj * rows + r];
      let nw = Math.fround(x);
      if (c.rounded || !(sjj > 0)) {
        const cell = r * grid.groups + Math.floor((c0 + jj) / grid.groupSize);
        const q = Math.min(maxq, Math.max(0, Math.round(x / grid.scale[cell]) + grid.zero[cell]));
        nw = Math.fround((q - grid.zero[cell]) * grid.scale[cell]);
      }
      dT[jj * rows + r] = old - nw;
      if (old !== nw) { what[jj * rows + r] = nw; moved++; }
      for (let j2 = jj + 1; j2 < sw; j2++) p[j2 * rows + r] += dT[jj * rows + r] * k.sBB[jj * sw + j2];
    }
  }
  return { what, dT, moved };
}

const CASES: Case[] = [];
for (const rows of [1, 7, 8, 37]) {
  for (const [sw, c0] of [[1, 0], [5, 3], [32, 40]]) {
    for (const rounded of [true, false]) {
      CASES.push({ rows, sw, c0, groups: rows % 2 ? 1 : 3, rounded, withLeft: c0 > 0, zeroDiag: sw > 2 && rows > 7, bits: rows === 8 ? 2 : 3 });
    }
  }
}

test('the kernel loads here (Node has WebAssembly SIMD) and auto picks it', (t) => {
  t.truthy(kernelModule());
  const grid = fitGrid(new Float32Array([1, -1]), 1, 2, { bits: 3, groupSize: 2, symmetric: false });
  t.is(createInnerSweeper(grid, 2, 'auto').kind, 'wasm');
  t.is(createInnerSweeper(grid, 2, 'js').kind, 'js');
});

test('wasm kernel and JS twin give the same bits, equal to the right-looking reference', (t) => {
  CASES.forEach((c, i) => {
    const k = makeCase(c, 100 + i);
    const ref = reference(c, k, k.grid);
    for (const kind of ['wasm', 'js'] as const) {
      const sweeper = createInnerSweeper(k.grid, 32, kind);
      t.is(sweeper.kind, kind);
      const what = Float32Array.from(k.what);
      const dT = new Float32Array(c.sw * c.rows).fill(NaN); // every entry must be written
      const moved = sweeper.run({ sw: c.sw, c0: c.c0, rounded: c.rounded, what, target: k.target, pb: k.pb, left: k.left, sBB: k.sBB, dT });
      const label = `${kind} ${JSON.stringify(c)}`;
      t.is(moved, ref.moved, label);
      // values equal the reference (it adds the zero terms too, so signed zeros may differ there only)
      t.deepEqual(Array.from(what), Array.from(ref.what), label);
      t.deepEqual(Array.from(dT), Array.from(ref.dT), label);
    }
    const [a, b] = (['wasm', 'js'] as const).map((kind) => {
      const what = Float32Array.from(k.what);
      const dT = new Float32Array(c.sw * c.rows);
      createInnerSweeper(k.grid, 32, kind).run({ sw: c.sw, c0: c.c0, rounded: c.rounded, what, target: k.target, pb: k.pb, left: k.left, sBB: k.sBB, dT });
      return { what, dT };
    });
    t.true(sameBits(a.what, b.what) && sameBits(a.dT, b.dT), `bitwise ${JSON.stringify(c)}`);
  });
});

test('a sweep moves something and the reference rounds onto the grid (the cases are not vacuous)', (t) => {
  const c = CASES.find((x) => x.rows === 37 && x.sw === 32 && x.rounded)!;
  const k = makeCase(c, 7);
  const ref = reference(c, k, k.grid);
  t.true(ref.moved > c.rows * c.sw / 4);
});

test.serial('quantEase: kernel wasm and js give identical codes, values and history; no tensor leak', (t) => {
  const p = correlatedProblem(21, 100, 300, 5); // blockSize 64: two blocks, sub-blocks of 32 with left-looking products
  const grid = fitGrid(p.w, p.rows, p.cols, { bits: 3, groupSize: 24, symmetric: false });
  const sigma = tf.tensor2d(p.s, [p.cols, p.cols]);
  const before = tf.memory().numTensors;
  const run = (kernel: 'wasm' | 'js') => quantEase(p.w, p.s, sigma, p.rows, p.cols, grid, { sweeps: 7, unroundedSweepEvery: 3, unroundedUntil: 5, blockSize: 64, kernel });
  const a = run('wasm');
  const b = run('js');
  t.is(tf.memory().numTensors, before);
  sigma.dispose();
  t.deepEqual(a.codes, b.codes);
  t.true(sameBits(a.values, b.values));
  t.deepEqual(a.history, b.history);
  // coordinate descent with rounded sweeps never raises f, and it moved off the start
  for (let i = 1; i < a.history.length; i++) t.true(a.history[i] <= a.history[i - 1] * (1 + 1e-6));
  t.false(sameBits(a.values, p.w));
});

test('the switch: option beats the environment variable; bad values are rejected with their name', (t) => {
  const saved = process.env[KERNEL_ENV_VAR];
  try {
    delete process.env[KERNEL_ENV_VAR];
    t.is(resolveKernelChoice(), 'auto');
    process.env[KERNEL_ENV_VAR] = 'js';
    t.is(resolveKernelChoice(), 'js');
    t.is(resolveKernelChoice('wasm'), 'wasm');
    process.env[KERNEL_ENV_VAR] = 'fast';
    const e = t.throws(() => resolveKernelChoice(), { instanceOf: OptionError });
    t.regex(e!.message, /TFJS_SAM_QUANTEASE_KERNEL.*auto, wasm, js.*fast/);
    t.throws(() => resolveKernelChoice('gpu'), { instanceOf: OptionError, message: /`kernel` must be one of auto, wasm, js.*gpu/ });
  } finally {
    if (saved === undefined) delete process.env[KERNEL_ENV_VAR];
    else process.env[KERNEL_ENV_VAR] = saved;
  }
});

test('the committed bytes were built from the committed sources (npm run build:kernels)', async (t) => {
  const generated: Record<string, Record<string, string>> = { inner_sweep: innerSweepWasm, gptq_block: gptqBlockWasm };
  const expectedExports: Record<string, string[]> = { inner_sweep: ['memory', 'setArgs', 'sweepColumns'], gptq_block: ['gptqBlock', 'invertLower', 'memory', 'setArgs'] };
  const version = await compilerVersion();
  for (const k of KERNELS) {
    const mod = generated[k.name];
    t.is(sourceHash(readFileSync(sourcePath(k), 'utf8'), version), mod[`${k.prefix}_SOURCE_SHA256`], `${k.name}.as changed: run \`npm run build:kernels\``);
    const bytes = Uint8Array.from(atob(mod[`${k.prefix}_WASM_BASE64`]), (ch) => ch.charCodeAt(0));
    t.deepEqual(WebAssembly.Module.exports(new WebAssembly.Module(bytes)).map((e) => e.name).sort(), expectedExports[k.name]);
  }
});

test('GPTQ block: wasm kernel and JS twin give the same bits, equal to the textbook loop', (t) => {
  const g = gaussian(rng(3));
  for (const [rows, bw, groups] of [[1, 1, 1], [5, 7, 2], [16, 33, 3]]) {
    const cols = bw + 2;
    const w = Float32Array.from({ length: rows * cols }, () => g());
    const grid = fitGrid(w, rows, cols, { bits: 3, groupSize: Math.ceil(cols / groups), symmetric: false });
    const wk = Float64Array.from({ length: rows * bw }, (_, i) => (i % 5 === 0 ? w[i] : g() * 1.3));
    const u = new Float64Array(bw * bw);
    for (let i = 0; i < bw; i++) for (let j = i; j < bw; j++) u[i * bw + j] = i === j ? 0.5 + Math.abs(g()) : g() * 0.2;
    const colGroup = Int32Array.from({ length: bw }, (_, i) => (((bw - 1 - i) + 2) / grid.groupSize) | 0); // a permuted visit
    // textbook: quantize column i of every row, propagate its error to the later columns
    const ref = { wk: Float64Array.from(wk), codes: new Uint8Array(rows * bw), values: new Float32Array(rows * bw), err: new Float32Array(rows * bw) };
    for (let r = 0; r < rows; r++) {
      for (let i = 0; i < bw; i++) {
        const cell = r * grid.groups + colGroup[i];
        const x = ref.wk[r * bw + i];
        const q = Math.min(7, Math.max(0, Math.round(x / grid.scale[cell]) + grid.zero[cell]));
        const v = Math.fround((q - grid.zero[cell]) * grid.scale[cell]);
        ref.codes[r * bw + i] = q;
        ref.values[r * bw + i] = v;
        const e = (x - v) / u[i * bw + i];
        ref.err[r * bw + i] = e;
        for (let j = i + 1; j < bw; j++) ref.wk[r * bw + j] -= e * u[i * bw + j];
      }
    }
    for (const kind of ['wasm', 'js'] as const) {
      const runner = createGptqBlockRunner(grid, bw, kind);
      t.is(runner.kind, kind);
      const out = { wk: Float64Array.from(wk), codes: new Uint8Array(rows * bw), values: new Float32Array(rows * bw), err: new Float32Array(rows * bw) };
      runner.run({ bw, u, colGroup, ...out });
      const label = `${kind} rows=${rows} bw=${bw}`;
      t.deepEqual(out.codes, ref.codes, label);
      t.true(sameBits(out.values, ref.values), label);
      t.true(sameBits(out.err, ref.err), label);
      t.deepEqual(Array.from(out.wk), Array.from(ref.wk), label);
    }
  }
});

test.serial('GPTQ: the wasm block kernel and the JS twin give identical codes and values on a layer', (t) => {
  const p = correlatedProblem(19, 90, 300, 8);
  const grid = fitGrid(p.w, p.rows, p.cols, { bits: 3, groupSize: 32, symmetric: false });
  const saved = process.env[KERNEL_ENV_VAR];
  try {
    const run = (kernel: string) => {
      process.env[KERNEL_ENV_VAR] = kernel;
      return gptq(p.w, p.s, p.rows, p.cols, grid, { dampening: 0.01, blockSize: 32, actOrder: true });
    };
    const a = run('wasm');
    const b = run('js');
    t.deepEqual(a.codes, b.codes);
    t.true(sameBits(a.values, b.values));
    t.false(sameBits(a.values, p.w));
  } finally {
    if (saved === undefined) delete process.env[KERNEL_ENV_VAR];
    else process.env[KERNEL_ENV_VAR] = saved;
  }
});

test.serial('readRange reads the same values as dataSync on wasm and cpu', async (t) => {
  for (const backend of ['wasm', 'cpu']) {
    await tf.setBackend(backend);
    const x = tf.tensor2d(Float32Array.from({ length: 60 }, (_, i) => i * 0.5 - 7), [6, 10]);
    const dst = new Float32Array(25).fill(-1);
    readRange(x, 13, 38, dst);
    t.deepEqual(Array.from(dst), Array.from((x.dataSync() as Float32Array).subarray(13, 38)), backend);
    x.dispose();
  }
  await tf.setBackend('wasm');
});

test('triangular inverse: the wasm kernel gives the bits of the JS loop, and L X = I', (t) => {
  const g = gaussian(rng(21));
  for (const n of [1, 2, 9, 40]) {
    const l = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) l[i * n + j] = i === j ? 1 + Math.abs(g()) : (j % 3 === 1 ? 0 : g() * 0.3);
    const x = invertLowerWasm(l, n, 'wasm')!;
    t.truthy(x);
    // the JS loop of cholesky.ts, written out (X_i = (e_i - sum_k<i L_ik X_k) / L_ii)
    const ref = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < i; k++) {
        const c = l[i * n + k];
        if (c === 0) continue;
        for (let m = 0; m <= k; m++) ref[i * n + m] -= c * ref[k * n + m];
      }
      const inv = 1 / l[i * n + i];
      for (let m = 0; m < i; m++) ref[i * n + m] *= inv;
      ref[i * n + i] = inv;
    }
    t.deepEqual(Array.from(x), Array.from(ref), `n=${n}`);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let k = 0; k < n; k++) acc += l[i * n + k] * x[k * n + j];
        t.true(Math.abs(acc - (i === j ? 1 : 0)) < 1e-9, `(L X)[${i}, ${j}] = ${acc}`);
      }
    }
  }
  t.is(invertLowerWasm(new Float64Array([2]), 1, 'js'), null);
});
