/**
 * The io entry under Node (package export condition "node"): everything of ./index.ts, with the
 * packedModel handler that also saves, and saveQuantized. Imports node:fs: never for a browser.
 */
export * from './index.ts';
export { packedModel } from './packed_node.ts';
export { saveQuantized, type SavedPaths } from './save_quantized.ts';
