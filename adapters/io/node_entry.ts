/**
 * The io entry under Node (package export condition "node"): everything of ./index.ts and of the
 * Node file I/O (./node.ts: saveQuantized, fileSystem, bounded reads, atomic model folders), with
 * the packedModel handler that also saves. Imports node:fs: never for a browser.
 */
export * from './index.ts';
export * from './node.ts';
export { packedModel } from './packed_node.ts';
