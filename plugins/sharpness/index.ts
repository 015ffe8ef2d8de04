/**
 * Sharpness diagnostics over a loss closure and its variables (no tfjs-layers dependency):
 * m-sharpness by projected gradient ascent in an L2 ball, and the top Hessian eigenvalue by
 * power iteration. For a tfjs-layers model and data: adapters/sharpness.
 *
 * @example
 *   const {value} = mSharpness(microBatches.map((b) => () => lossOn(b)), vars, {rho: 0.05});
 *   const {eigenvalue} = topHessianEigenvalue(() => lossOn(batch), vars);
 */
export { mSharpness, maxLossIncrease, type MSharpnessResult } from './m_sharpness.ts';
export { topHessianEigenvalue, hvpExact, hvpFiniteDifference, type HessianEigenResult } from './hessian_eigenvalue.ts';
export {
  resolveMSharpnessOptions, resolveHessianEigenOptions, M_SHARPNESS_DEFAULTS, HESSIAN_DEFAULTS,
  type MSharpnessOptions, type HessianEigenOptions, type HvpMethod, type SharpnessProgress,
} from './options.ts';
