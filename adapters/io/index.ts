/**
 * Packed model I/O. This index is browser-safe (no Node API at module level); saveQuantized is
 * Node-only and lives in ./save_quantized.ts (import it from there).
 */
export { loadQuantized, type LoadQuantizedOptions } from './load_quantized.ts';
export { decodePacked, type DecodedModel } from './decode.ts';
export { encodePacked, WEIGHTS_FILE, type QuantizedModel } from './encode.ts';
export { problemShape, problemDataToKernelData } from './layout.ts';
export * from './format.ts';
