/**
 * Sharpness diagnostics for tfjs-layers models: m-sharpness and the top Hessian eigenvalue of the
 * training loss on a batch. The pure math (loss closures and variables) is re-exported too.
 *
 * @example
 *   import { modelMSharpness, modelHessianEigenvalue } from 'tfjs-sam-quantease/sharpness';
 *   const s = modelMSharpness(model, xs, ys, {rho: 0.05, microBatchSize: 16});
 *   const h = modelHessianEigenvalue(model, xs, ys, {maxIterations: 20});
 */
export { modelMSharpness, modelHessianEigenvalue, type ModelMSharpnessOptions, type ModelHessianOptions, type ExampleLoss } from './model_sharpness.ts';
export { sharpnessProgressBar } from './progress.ts';
export * from '../../plugins/sharpness/index.ts';
