/** QuantEase, GPTQ and RTN layer quantizers sharing one signature (see README.md). */
export * from './types.ts';
export { quantizeLayer, quantizeLayerSync, resolveQuantizeOptions, QUANTIZE_LAYER_OPTION_KEYS, type ResolvedQuantizeOptions } from './quantize_layer.ts';
export { QUANTIZERS, type Quantizer, type MethodResult } from './methods.ts';
export { DEFAULT_METHOD, METHOD_OPTION_KEYS } from './options.ts';
export { CovarianceAccumulator } from './covariance.ts';
export { fitGrid, quantizeAll, dequantizeAll, quantizeCode, dequantizeCode, maxCode, type GridSpec } from './grid.ts';
export { dequantize, type QuantizedMatrix } from './dequantize.ts';
export { layerObjective, quadraticForm, relativeError } from './objective.ts';
