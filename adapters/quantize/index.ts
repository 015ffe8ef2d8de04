/** Model-level quantization: the hook, its callback, the report and the calibration capture. */
export { quantizeModel } from './quantize_model.ts';
export type { Calibration, DatasetLike, QuantizeModelOptions, LayerPattern, LayerOverride, QuantizationReport, LayerReport, QuantizeModelResult } from './quantize_model.ts';
export { quantizeOnTrainEnd, QuantizeOnTrainEnd, type QuantizeOnTrainEndOptions, type PackedSaver, type FolderSaver } from './callback.ts';
export { formatReport } from './report.ts';
export { progressBar, type ProgressEvent } from './progress.ts';
export { kernelToProblem, problemToKernel, problemShape, QUANTIZABLE_CLASSES } from './layer_problems.ts';
export { conv2dPatches, conv1dPatches, activationRows, captureCovariance } from './capture.ts';
