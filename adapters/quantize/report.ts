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
  /** Set when the quantizer fell back (e.g. GPTQ -> RTN). */
  fallback?: string;
  milliseconds: number;
  float32Bytes: number;
  packedBytes: number;
}

export interface QuantizationReport {
  layers: LayerReport[];
  totals: {
    quantizedLayers: number;
    float32Bytes: number;
    packedBytes: number;
    /** float32Bytes / packedBytes */
    ratio: number;
    milliseconds: number;
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
      ? `| ${l.name} | ${l.className} | ${l.method}${l.fallback ? ' (fallback)' : ''} | ${l.bits} | ${fmt(l.rtnRelativeError)} | ${fmt(l.relativeError)} | ${l.outliers ?? 0} | ${l.milliseconds.toFixed(0)} | ${kb(l.float32Bytes)} | ${kb(l.packedBytes)} |`
      : `| ${l.name} | ${l.className} | skipped: ${l.reason} | - | - | - | - | ${l.milliseconds.toFixed(0)} | ${kb(l.float32Bytes)} | ${kb(l.packedBytes)} |`,
  );
  const t = report.totals;
  const total = `\n${t.quantizedLayers} layer(s) quantized in ${(t.milliseconds / 1000).toFixed(2)} s; ` +
    `weights ${kb(t.float32Bytes)} KiB float32 -> ${kb(t.packedBytes)} KiB packed (${t.ratio.toFixed(2)}x smaller).`;
  return [head, rule, ...rows].join('\n') + '\n' + total;
}
