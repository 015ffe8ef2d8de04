/**
 * Packed model I/O, browser-safe (no Node API reachable from here: local files are read in Node
 * through a run-time import of node:fs only). Saving needs Node: adapters/io/node_entry.ts adds
 * packedModel's save() and saveQuantized.
 */
export { loadQuantized, type LoadQuantizedOptions } from './load_quantized.ts';
export { packedModel, registerPackedRouter, PACKED_URL_PREFIX, loadPackedArtifacts, type PackedModelOptions, type PackedLoadOptions, type PackedSaveOptions } from './packed_handler.ts';
export { decodePacked, type DecodedModel } from './decode.ts';
export { encodePacked, encodeArtifacts, WEIGHTS_FILE, type QuantizedModel, type EncodedPacked } from './encode.ts';
export { validatePackedJSON, upgradePackedJSON } from './validate_packed.ts';
export { modelJsonLocation, siblingLocation } from './urls.ts';
export { problemShape, problemDataToKernelData } from './layout.ts';
export * from './format.ts';
