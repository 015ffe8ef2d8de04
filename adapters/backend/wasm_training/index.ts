/**
 * Wasm kernels that make training on `@tensorflow/tfjs-backend-wasm` work and run fast (see
 * README.md here). Depends on `@tensorflow/tfjs-core` only; nothing runs at import.
 */
export { registerWasmTrainingKernels, unregisterWasmTrainingKernels, WASM_TRAINING_KERNELS } from './register.ts';
