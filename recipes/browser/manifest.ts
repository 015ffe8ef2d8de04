/**
 * The contract between the build script (Node), the page (browser) and the test: what
 * `models/manifest.json` in the output folder lists, and what the page publishes on
 * `window.__result`. Types and constants only.
 */

/** One model folder under `models/`. */
export interface ModelEntry {
  /** Folder name under models/, also the id used in the page's `?variants=` parameter. */
  name: string;
  /** Human-readable description, e.g. "QuantEase 4-bit". */
  label: string;
  /** 'float32' is a plain tfjs LayersModel (model.save('file://')); 'packed' is saveQuantized output. */
  kind: 'float32' | 'packed';
  /** model.json path relative to the page, e.g. "models/q4/model.json". */
  url: string;
  /** Every file in the folder with its size in bytes (what a full load downloads). */
  files: Record<string, number>;
  /** Sum of `files`. */
  bytes: number;
  /** For a deliberately broken variant, how it was broken (the page expects a clean error). */
  broken?: string;
}

export interface Manifest {
  /** e.g. "256-512-512-6 MLP (397,318 weights)" */
  architecture: string;
  classNames: string[];
  float32: ModelEntry;
  /** Quantized variants shown by default. */
  variants: ModelEntry[];
  /** Broken copies of a quantized variant, loaded only when asked for with ?variants=. */
  broken: ModelEntry[];
}

/** One onProgress call as the page records it. */
export interface ProgressRecord {
  /** ms since the load started */
  ms: number;
  fraction: number;
  /** loadQuantized's stage name ('model.json', 'weights', 'decode', 'build', 'done'); 'tfjs' for the float32 load */
  stage: string;
}

export interface LoadResult {
  name: string;
  label: string;
  ok: boolean;
  /** Body bytes the page fetched for this model (its own count, through the fetch it passes in). */
  bytesFetched: number;
  /** URLs the page fetched for this model, in order. */
  urlsFetched: string[];
  /** Wall time of the load call (fetch + parse + dequantize + build), ms. */
  loadMs: number;
  /** Wall time of the first predict (includes shader compilation on webgl), ms. */
  predictMs?: number;
  /** Softmax outputs, [inputs][classes]. */
  probs?: number[][];
  /** argmax per input. */
  predicted?: number[];
  progress: ProgressRecord[];
  /** Error name and message when ok is false. */
  errorName?: string;
  errorMessage?: string;
  /** tf.memory().numTensors before the load and after the model (or the failed attempt) is gone. */
  tensorsBefore: number;
  tensorsAfter: number;
}

export interface PageResult {
  done: true;
  backend: string;
  /** Backends tried and why each one failed, in order. */
  backendAttempts: { name: string; ok: boolean; error?: string }[];
  webglFloat32: boolean | null;
  inputLabels: number[];
  results: LoadResult[];
  /** A failure outside any single load (e.g. no backend), otherwise absent. */
  fatal?: string;
}

export const MODELS_DIR = 'models';
export const MANIFEST_PATH = `${MODELS_DIR}/manifest.json`;
export const WASM_DIR = 'wasm';
