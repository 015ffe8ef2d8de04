/**
 * Node-only file I/O: saving packed models, the fileSystem() tf.io handler for ordinary tfjs
 * models, atomic model folders and bounded reads. Import this entry only in Node (it imports
 * node:fs); the browser-safe API is ./index.ts.
 */
export { saveQuantized, type SavedPaths, type SaveQuantizedOptions } from './save_quantized.ts';
export { fileSystem, registerFileSystemRouter, type FileSystemOptions } from './file_system_handler.ts';
export { writeModelDirAtomic, type ModelDirFiles, type WriteModelDirOptions, type WrittenModelDir } from './write_model_dir.ts';
export { readBounded, resolveInside, MAX_MODEL_JSON_BYTES, DEFAULT_TIMEOUT_MS, type ReadBoundedOptions } from './read_bounded.ts';
