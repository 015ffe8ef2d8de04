/** The quantization methods the evaluations compare, with the labels their tables and plots use. */
import type {OutlierOptions, QuantMethod} from 'tfjs-sam-quantease/quantease';

export interface QuantVariant {
  label: string;
  method: QuantMethod;
  outliers?: OutlierOptions;
}

export const QUANT_VARIANTS: QuantVariant[] = [
  {label: 'RTN', method: 'rtn'},
  {label: 'GPTQ', method: 'gptq'},
  {label: 'QuantEase', method: 'quantease'},
  {label: 'QuantEase + 1% outliers', method: 'quantease', outliers: {fraction: 0.01}},
];
