/** Backend selection and the wasm training kernels. Nothing runs at import. */
export {
  selectBackend,
  BACKEND_ENV_VAR,
  BACKEND_CHOICES,
  type BackendChoice,
  type SelectBackendOptions,
  type SelectedBackend,
} from './select_backend.ts';
export {
  registerWasmTrainingKernels,
  unregisterWasmTrainingKernels,
  WASM_TRAINING_KERNELS,
} from './wasm_training/index.ts';
