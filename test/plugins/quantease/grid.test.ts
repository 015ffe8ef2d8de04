import test from 'ava';
import { fitGrid, quantizeAll, dequantizeAll } from '../../../plugins/quantease/grid.ts';
import { rng, gaussian } from './helpers.ts';

function randomRows(rows: number, cols: number, seed: number): Float32Array {
  const g = gaussian(rng(seed));
  return Float32Array.from({ length: rows * cols }, () => g());
}

test('asymmetric grid: 0 inside the range, min and max representable, every value on the grid', (t) => {
  const cols = 10;
  // row 0 all positive: lo is clamped to 0, so 0 is the code `zero` = 0
  const w = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, ...randomRows(1, cols, 3)]);
  const grid = fitGrid(w, 2, cols, { bits: 4, groupSize: 0, symmetric: false });
  t.is(grid.groups, 1);
  t.is(grid.groupSize, cols);
  // row 0: lo = 0, hi = 10, scale = 10 / 15, zero = 0
  t.is(grid.scale[0], Math.fround(10 / 15));
  t.is(grid.zero[0], 0);
  const { codes, values } = quantizeAll(w, grid, cols);
  t.is(codes[9], 15); // the max is the top code
  t.true(Math.abs(values[9] - 10) < 1e-5);
  t.deepEqual(dequantizeAll(codes, grid, cols), values);
  // dequantized zero code is exactly 0 on every row
  for (let r = 0; r < 2; r++) t.is((grid.zero[r] - grid.zero[r]) * grid.scale[r], 0);
});

test('symmetric grid: zero = 2^(b-1), scale = 2 max|w| / maxq', (t) => {
  const w = new Float32Array([-3, 1, 2, 0.5]);
  const grid = fitGrid(w, 1, 4, { bits: 3, groupSize: 0, symmetric: true });
  t.is(grid.zero[0], 4);
  t.is(grid.scale[0], Math.fround(6 / 7));
});

test('zero-range rows get a positive scale (range [-1, 1])', (t) => {
  const w = new Float32Array(8); // all zeros
  const grid = fitGrid(w, 2, 4, { bits: 2, groupSize: 0, symmetric: false });
  t.true(grid.scale[0] > 0 && grid.scale[1] > 0);
  t.is(grid.scale[0], Math.fround(2 / 3));
  const { values } = quantizeAll(w, grid, 4);
  t.deepEqual(Array.from(values), new Array(8).fill(0));
});

test('groups: a partial last group is fitted on its own columns', (t) => {
  const cols = 10; // groups of 4: [0..3], [4..7], [8, 9]
  const w = Float32Array.from({ length: cols }, (_, i) => (i < 8 ? 1 : 100) * (i + 1));
  const grid = fitGrid(w, 1, cols, { bits: 4, groupSize: 4, symmetric: false });
  t.is(grid.groups, 3);
  t.is(grid.groupSize, 4);
  t.is(grid.scale[0], Math.fround(4 / 15));
  t.is(grid.scale[1], Math.fround(8 / 15));
  t.is(grid.scale[2], Math.fround(1000 / 15));
});

test('excluded entries (outliers) are left out of the min/max', (t) => {
  const w = new Float32Array([1, -1, 50, 0.5]);
  const mask = new Uint8Array([0, 0, 1, 0]);
  const grid = fitGrid(w, 1, 4, { bits: 4, groupSize: 0, symmetric: false }, mask);
  t.is(grid.scale[0], Math.fround(2 / 15));
});
