/** A scatter plot spec (vega-lite) in the look of recipes/lib/plot.ts: one point per model, color and shape by group. */
import type {PlotSpec} from '../lib/plot.ts';

export interface ScatterPoint {
  x: number;
  y: number;
  /** Legend group (color), e.g. the optimizer. */
  color: string;
  /** Second legend group (shape), e.g. the noise level. */
  shape: string;
}

export function scatterPlot(opts: {title: string; subtitle?: string; xLabel: string; yLabel: string; points: ScatterPoint[];
  logX?: boolean}): PlotSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: opts.subtitle === undefined ? {text: opts.title} : {text: opts.title, subtitle: opts.subtitle},
    width: 560,
    height: 320,
    config: {
      font: 'DejaVu Sans', background: 'white', padding: 12,
      title: {fontSize: 16, subtitleFontSize: 12, anchor: 'start'},
      axis: {labelFontSize: 12, titleFontSize: 13, grid: true, gridOpacity: 0.5},
      legend: {labelFontSize: 12, titleFontSize: 12, orient: 'right'},
      view: {stroke: '#888'},
    },
    data: {values: opts.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!opts.logX || p.x > 0))},
    mark: {type: 'point', filled: true, size: 70, opacity: 0.85},
    encoding: {
      x: {field: 'x', type: 'quantitative', title: opts.xLabel, scale: opts.logX ? {type: 'log'} : {zero: false}},
      y: {field: 'y', type: 'quantitative', title: opts.yLabel, scale: {zero: false}},
      color: {field: 'color', type: 'nominal', title: 'optimizer'},
      shape: {field: 'shape', type: 'nominal', title: 'label noise'},
    },
  };
}
