/**
 * Plots for the recipes: vega-lite specs rendered headless to SVG (vega) and PNG (resvg).
 *
 * API (stable; used by other recipes):
 *   linePlot(opts: LinePlotOptions): PlotSpec      lines over x, optional shaded band per series
 *   barPlot(opts: BarPlotOptions): PlotSpec        grouped bars with optional error bars
 *   writePlot(spec, pathWithoutExt): Promise<{svg, png}>   writes `<path>.svg` and `<path>.png`
 *   renderSvg(spec): Promise<string>               the SVG text only
 *
 * Put units in the axis labels, e.g. `yLabel: 'test accuracy (fraction)'`, `xLabel: 'iteration'`.
 *
 * @example
 *   const spec = linePlot({title: 'Risk', xLabel: 'iteration', yLabel: 'risk',
 *     series: [{name: 'GD', x: [1, 2, 3], y: [3, 2, 1]}], logX: true});
 *   await writePlot(spec, 'out/demo/risk');   // out/demo/risk.svg + out/demo/risk.png
 */
import {mkdirSync, renameSync, writeFileSync} from 'node:fs';
import {dirname} from 'node:path';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import {Resvg} from '@resvg/resvg-js';

/** A vega-lite top-level spec (kept loose so callers can tweak it before writing). */
export type PlotSpec = Record<string, unknown>;

export interface LineSeries {
  /** Legend entry. */
  name: string;
  x: number[];
  y: number[];
  /** Optional shaded band (e.g. mean +- std, or a Monte-Carlo range), same length as x. */
  band?: {lo: number[]; hi: number[]};
  /** Draw points on the line (default: false; true when the series has <= 12 points). */
  points?: boolean;
  /** Dashed stroke (default false), e.g. for a reference / closed-form curve. */
  dashed?: boolean;
}

export interface LinePlotOptions {
  title: string;
  /** Axis label with its unit, e.g. 'iteration' or 'epoch'. */
  xLabel: string;
  /** Axis label with its unit. */
  yLabel: string;
  series: LineSeries[];
  /** Log-scale x axis (default false). Non-positive x values are dropped. */
  logX?: boolean;
  /** Log-scale y axis (default false). Non-positive y values are dropped. */
  logY?: boolean;
  /** Pixel size of the plotting area (default 560 x 320). */
  width?: number;
  height?: number;
  /** Optional subtitle line under the title (e.g. the seed and configuration). */
  subtitle?: string;
}

export interface BarDatum {
  /** Category on the x axis (e.g. '20% noise'). */
  group: string;
  /** Bar within the group, shown in the legend (e.g. 'SAM'). */
  series: string;
  /** Bar height (e.g. mean accuracy). */
  value: number;
  /** Optional error bar [lo, hi] (e.g. min/max over seeds or mean +- std). */
  lo?: number;
  hi?: number;
}

export interface BarPlotOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  data: BarDatum[];
  /** y-axis domain [min, max]; default: zero-based automatic. Use it to zoom in on accuracies. */
  yDomain?: [number, number];
  width?: number;
  height?: number;
  subtitle?: string;
}

const FONT = 'DejaVu Sans';

function baseConfig(): Record<string, unknown> {
  return {
    font: FONT,
    background: 'white',
    padding: 12,
    title: {fontSize: 16, subtitleFontSize: 12, anchor: 'start'},
    axis: {labelFontSize: 12, titleFontSize: 13, grid: true, gridOpacity: 0.5},
    legend: {labelFontSize: 12, titleFontSize: 12, orient: 'right', labelLimit: 420},
    view: {stroke: '#888'},
  };
}

/** Lines of at most `width` characters, broken after ', ' (headless vega over-estimates text widths). */
function wrap(text: string, width = 90): string[] {
  const lines: string[] = [];
  let line = '';
  for (const part of text.split(/(?<=, )/)) {
    if (line.length > 0 && line.length + part.length > width) {
      lines.push(line.trimEnd());
      line = '';
    }
    line += part;
  }
  if (line.length > 0) lines.push(line.trimEnd());
  return lines;
}

function titleOf(title: string, subtitle?: string): unknown {
  return subtitle === undefined ? {text: title} : {text: title, subtitle: wrap(subtitle)};
}

/** A multi-series line plot with optional shaded bands. */
export function linePlot(opts: LinePlotOptions): PlotSpec {
  const rows: Array<Record<string, number | string>> = [];
  const bandRows: Array<Record<string, number | string>> = [];
  const keep = (x: number, y: number) =>
      Number.isFinite(x) && Number.isFinite(y) && (!opts.logX || x > 0) && (!opts.logY || y > 0);
  const dashedNames: string[] = [];
  const pointNames: string[] = [];
  for (const s of opts.series) {
    if (s.x.length !== s.y.length) {
      throw new Error(`linePlot: series '${s.name}' has ${s.x.length} x values and ${s.y.length} y values.`);
    }
    if (s.dashed) dashedNames.push(s.name);
    if (s.points ?? s.x.length <= 12) pointNames.push(s.name);
    for (let i = 0; i < s.x.length; i++) {
      if (keep(s.x[i], s.y[i])) rows.push({series: s.name, x: s.x[i], y: s.y[i]});
      if (s.band !== undefined && keep(s.x[i], s.band.lo[i]) && keep(s.x[i], s.band.hi[i])) {
        bandRows.push({series: s.name, x: s.x[i], lo: s.band.lo[i], hi: s.band.hi[i]});
      }
    }
  }
  const names = opts.series.map((s) => s.name);
  const color = {field: 'series', type: 'nominal', title: null, scale: {domain: names},
    legend: {symbolType: 'stroke', symbolStrokeWidth: 3, symbolOpacity: 1, symbolSize: 300}};
  // Integer x values (epochs, iterations) get integer ticks.
  const integerX = opts.series.every((s) => s.x.every((v) => Number.isInteger(v)));
  const xEnc = {field: 'x', type: 'quantitative', title: opts.xLabel,
    scale: opts.logX ? {type: 'log', nice: false} : {zero: false, nice: false},
    ...(integerX ? {axis: {format: opts.logX ? ',' : 'd', tickMinStep: 1}} : {})};
  const yScale = opts.logY ? {type: 'log'} : {zero: false};
  const layers: unknown[] = [];
  if (bandRows.length > 0) {
    layers.push({
      data: {values: bandRows},
      mark: {type: 'area', opacity: 0.2},
      encoding: {x: xEnc, y: {field: 'lo', type: 'quantitative', scale: yScale, title: opts.yLabel},
        y2: {field: 'hi'}, color},
    });
  }
  layers.push({
    data: {values: rows},
    mark: {type: 'line', strokeWidth: 2},
    encoding: {
      x: xEnc,
      y: {field: 'y', type: 'quantitative', title: opts.yLabel, scale: yScale},
      color,
      strokeDash: {
        condition: {test: `indexof(${JSON.stringify(dashedNames)}, datum.series) >= 0`, value: [6, 4]},
        value: [1, 0],
      },
    },
  });
  if (pointNames.length > 0) {
    layers.push({
      data: {values: rows.filter((r) => pointNames.includes(r.series as string))},
      mark: {type: 'point', filled: true, size: 40},
      encoding: {x: xEnc, y: {field: 'y', type: 'quantitative', scale: yScale}, color},
    });
  }
  return layeredSpec(opts, layers);
}

/** Grouped bars (x = group, color = series) with optional error bars from `lo`/`hi`. */
export function barPlot(opts: BarPlotOptions): PlotSpec {
  const rows = opts.data.map((d) => ({...d, lo: d.lo ?? d.value, hi: d.hi ?? d.value}));
  const seriesNames = [...new Set(opts.data.map((d) => d.series))];
  const groups = [...new Set(opts.data.map((d) => d.group))];
  const yScale = opts.yDomain !== undefined ? {domain: opts.yDomain, zero: false, clamp: true} : {zero: true};
  const x = {field: 'group', type: 'nominal', title: opts.xLabel, sort: groups, axis: {labelAngle: 0}};
  const xOffset = {field: 'series', type: 'nominal', sort: seriesNames};
  const color = {field: 'series', type: 'nominal', title: null, scale: {domain: seriesNames}};
  const layers: unknown[] = [
    {
      mark: {type: 'bar', clip: true},
      encoding: {x, xOffset, color,
        y: {field: 'value', type: 'quantitative', title: opts.yLabel, scale: yScale}},
    },
  ];
  if (opts.data.some((d) => d.lo !== undefined || d.hi !== undefined)) {
    layers.push({
      mark: {type: 'rule', color: 'black', strokeWidth: 1.5, clip: true},
      encoding: {x, xOffset, y: {field: 'lo', type: 'quantitative', scale: yScale}, y2: {field: 'hi'}},
    });
    layers.push({
      mark: {type: 'tick', color: 'black', thickness: 1.5, size: 8, clip: true},
      encoding: {x, xOffset, y: {field: 'hi', type: 'quantitative', scale: yScale}},
    });
    layers.push({
      mark: {type: 'tick', color: 'black', thickness: 1.5, size: 8, clip: true},
      encoding: {x, xOffset, y: {field: 'lo', type: 'quantitative', scale: yScale}},
    });
  }
  return layeredSpec(opts, layers, rows);
}

/** The spec around a plot's layers: schema, title, size, the shared look, and the data if one set serves all layers. */
function layeredSpec(
  opts: {title: string; subtitle?: string; width?: number; height?: number}, layers: unknown[], values?: unknown[],
): PlotSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: titleOf(opts.title, opts.subtitle),
    width: opts.width ?? 560,
    height: opts.height ?? 320,
    config: baseConfig(),
    ...(values !== undefined ? {data: {values}} : {}),
    layer: layers,
  };
}

/** Renders a vega-lite spec to SVG text, headless (no canvas needed). */
export async function renderSvg(spec: PlotSpec): Promise<string> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const compiled = vl.compile(spec as any).spec;
  const view = new vega.View(vega.parse(compiled), {renderer: 'none'});
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

function writeAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/**
 * Writes `<pathWithoutExt>.svg` and `<pathWithoutExt>.png` (PNG at 2x for sharp text).
 * Creates the folder if needed. Returns the two paths written.
 */
export async function writePlot(spec: PlotSpec, pathWithoutExt: string): Promise<{svg: string; png: string}> {
  mkdirSync(dirname(pathWithoutExt), {recursive: true});
  const svgText = await renderSvg(spec);
  const png = new Resvg(svgText, {
    fitTo: {mode: 'zoom', value: 2},
    background: 'white',
    font: {loadSystemFonts: true, defaultFontFamily: FONT},
  }).render().asPng();
  const svgPath = `${pathWithoutExt}.svg`;
  const pngPath = `${pathWithoutExt}.png`;
  writeAtomic(svgPath, svgText);
  writeAtomic(pngPath, png);
  return {svg: svgPath, png: pngPath};
}
