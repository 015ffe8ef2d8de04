/** Small adjustments to the plots' specs that several evaluations share. */
import type {PlotSpec} from './plot.ts';

/** Long method names ('QuantEase + 1% outliers') must not be cut in the legend. */
export function widenLegend(spec: PlotSpec): void {
  const config = spec.config as {legend?: Record<string, unknown>};
  config.legend = {...config.legend, labelLimit: 320};
}

/** Integer ticks on the x axis (epochs, layer indices). */
export function integerX(spec: PlotSpec): void {
  for (const layer of (spec.layer as Array<{encoding?: {x?: Record<string, unknown>}}>) ?? []) {
    if (layer.encoding?.x) layer.encoding.x.axis = {tickMinStep: 1, format: 'd'};
  }
}
