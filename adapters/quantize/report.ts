/**
 * The quantization report: per layer what was done and how well, and model totals in float32
 * bytes and in the packed format's bytes (adapters/io/format.ts). Plain JSON: the codes travel
 * separately, in quantizeModel's `payload`.
 */
import type { QuantMethod } from '../../plugins/quantease/types.ts';

export interface LayerReport {
  name: string;
  className: string;
  status: 'quantized' | 'skipped';
  /** Why a layer was skipped (class not supported, excluded by pattern, ...). */
  reason?: string;
  method?: QuantMethod;
  bits?: number;
  groupSize?: number;
  /** Kernel shape [..., out]. */
  shape?: number[];
  /** tr(D S D^T) / tr(W S W^T) of round-to-nearest, on the same calibration inputs. */
  rtnRelativeError?: number;
  /** Same for the chosen method. */
  relativeError?: number;
  outliers?: number;
  /** Calibration rows seen by the layer (patches for convolutions). */
  rows?: number;
  /** With `sparsity`: fraction of the kernel's weights that are exactly zero. */
  sparsity?: number;
  /** With `sparsity`: the pruning method. */
  pruneMethod?: string;
  /** With `sparsity`: relative error of the pruned (not yet quantized) layer. */
  pruneRelativeError?: number;
  /** With `sparsity`: certified lower bound on any pruned layer's relative error (same pattern). */
  pruneLowerBound?: number;
  /** With `sparsity`: (pruning objective - bound) / objective, how far from optimal pruning can be at most. */
  pruneGap?: number;
  /** Set when the quantizer fell back (e.g. GPTQ -> RTN). */
  fallback?: string;
  milliseconds: number;
  float32Bytes: number;
  packedBytes: number;
  /** Bytes of this layer's weights stored as float32 (biases, normalization parameters, skipped layers). */
  float32KeptBytes?: number;
}

export interface QuantizationReport {
  layers: LayerReport[];
  totals: {
    quantizedLayers: number;
    float32Bytes: number;
    packedBytes: number;
    /** float32Bytes / packedBytes */
    ratio: number;
    /** Of packedBytes, the weights stored as float32 (biases, normalization layers, skipped layers). */
    float32KeptBytes?: number;
    milliseconds: number;
    /** Layer forwards run on calibration batches (one node on one batch), recomputations included. */
    forwards?: number;
    /** Of those, forwards run again from a checkpoint because the activations did not fit `activationMemoryBytes`. */
    recomputedForwards?: number;
    /** Largest number of bytes of calibration activations held at once. */
    peakActivationBytes?: number;
    /** Threads that quantized rows (1 = the calling thread only). */
    workers?: number;
    /** Whether layers were calibrated through the already-quantized layers before them. */
    sequential?: boolean;
  };
}

function fmt(x: number | undefined, digits = 4): string {
  if (x === undefined || !Number.isFinite(x)) return '-';
  return x === 0 ? '0' : Math.abs(x) < 1e-3 ? x.toExponential(2) : x.toFixed(digits);
}

function kb(bytes: number): string {
  return (bytes / 1024).toFixed(1);
}

/** Renders the report as a markdown table plus a totals line. */
export function formatReport(report: QuantizationReport): string {
  const head = '| layer | class | method | bits | rel. error RTN | rel. error | outliers | ms | KiB float32 | KiB packed |';
  const rule = '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |';
  const rows = report.layers.map((l) =>
    l.status === 'quantized'
      ? `| ${l.name} | ${l.className} | ${l.method}${l.fallback ? ' (fallback)' : ''}${l.sparsity !== undefined ? ` + ${l.pruneMethod} ${(100 * l.sparsity).toFixed(0)}% sparse (gap ${fmt(l.pruneGap, 2)})` : ''} | ${l.bits} | ${fmt(l.rtnRelativeError)} | ${fmt(l.relativeError)} | ${l.outliers ?? 0} | ${l.milliseconds.toFixed(0)} | ${kb(l.float32Bytes)} | ${kb(l.packedBytes)} |`
      : `| ${l.name} | ${l.className} | skipped: ${l.reason} | - | - | - | - | ${l.milliseconds.toFixed(0)} | ${kb(l.float32Bytes)} | ${kb(l.packedBytes)} |`,
  );
  const t = report.totals;
  const total = `\n${t.quantizedLayers} layer(s) quantized in ${(t.milliseconds / 1000).toFixed(2)} s; ` +
    `weights ${kb(t.float32Bytes)} KiB float32 -> ${kb(t.packedBytes)} KiB packed (${t.ratio.toFixed(2)}x smaller)` +
    (t.float32KeptBytes === undefined ? '.' : `, of which ${kb(t.float32KeptBytes)} KiB stay float32 (biases, normalization, skipped layers).`);
  const capture = t.forwards === undefined ? '' :
    `\ncalibration: ${t.forwards} layer forwards (${t.recomputedForwards ?? 0} recomputed), ` +
    `peak activations ${((t.peakActivationBytes ?? 0) / 2 ** 20).toFixed(1)} MiB, ${t.sequential === false ? 'one pass on the float model' : 'sequential'}; ` +
    `${t.workers ?? 1} worker(s).`;
  return [head, rule, ...rows].join('\n') + '\n' + total + capture;
}
