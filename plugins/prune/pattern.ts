/**
 * Sparsity patterns: how many weights each row keeps, and the mask that keeps the highest scores.
 *
 *   unstructured  row r keeps the k = round((1 - fraction) * in) highest scores of its row
 *   nm            every run of m consecutive inputs of a row keeps its n highest scores
 *   columns       the layer keeps the in - round(fraction * in) columns of highest total score
 */
import type { SparsityPattern } from './types.ts';

/** Weights kept per row (the same for every row in every pattern). */
export function keptPerRow(pattern: SparsityPattern, cols: number): number {
  switch (pattern.kind) {
    case 'unstructured':
      return cols - Math.round(pattern.fraction * cols);
    case 'columns':
      return cols - Math.round(pattern.fraction * cols);
    case 'nm': {
      const full = Math.floor(cols / pattern.m) * pattern.n;
      return full + Math.min(pattern.n, cols % pattern.m); // a last partial run keeps up to n
    }
  }
}

/** Indices of the `count` largest entries of `score` at `idx` (ties: lower index first). */
function topIndices(score: Float64Array, idx: number[], count: number): number[] {
  return [...idx].sort((a, b) => score[b] - score[a] || a - b).slice(0, count);
}

/** The [rows, cols] mask (1 = kept) that keeps the highest `score` entries under `pattern`. */
export function selectMask(score: Float64Array, rows: number, cols: number, pattern: SparsityPattern): Uint8Array {
  const mask = new Uint8Array(rows * cols);
  if (pattern.kind === 'columns') {
    const total = new Float64Array(cols);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) total[c] += score[r * cols + c];
    const keep = topIndices(total, Array.from({ length: cols }, (_, c) => c), keptPerRow(pattern, cols));
    for (let r = 0; r < rows; r++) for (const c of keep) mask[r * cols + c] = 1;
    return mask;
  }
  const row = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) row[c] = score[r * cols + c];
    for (const [start, end, keep] of runsOf(pattern, cols)) {
      const idx = Array.from({ length: end - start }, (_, i) => start + i);
      for (const c of topIndices(row, idx, keep)) mask[r * cols + c] = 1;
    }
  }
  return mask;
}

/** The runs [start, end, kept] a row is split into: one run for unstructured, runs of m for N:M. */
export function runsOf(pattern: SparsityPattern, cols: number): Array<[number, number, number]> {
  if (pattern.kind !== 'nm') return [[0, cols, keptPerRow(pattern, cols)]];
  const out: Array<[number, number, number]> = [];
  for (let s = 0; s < cols; s += pattern.m) {
    const e = Math.min(cols, s + pattern.m);
    out.push([s, e, Math.min(pattern.n, e - s)]);
  }
  return out;
}

/** The run a column belongs to (its index in runsOf). */
export function runOf(pattern: SparsityPattern, col: number): number {
  return pattern.kind === 'nm' ? Math.floor(col / pattern.m) : 0;
}

/** True when `mask` satisfies `pattern` exactly (every row keeps what the pattern says). */
export function maskFollows(mask: Uint8Array, rows: number, cols: number, pattern: SparsityPattern): boolean {
  for (let r = 0; r < rows; r++) {
    for (const [s, e, keep] of runsOf(pattern, cols)) {
      let n = 0;
      for (let c = s; c < e; c++) n += mask[r * cols + c];
      if (n !== keep) return false;
    }
  }
  if (pattern.kind === 'columns') {
    for (let c = 0; c < cols; c++) for (let r = 1; r < rows; r++) if (mask[r * cols + c] !== mask[c]) return false;
  }
  return true;
}
