/**
 * Row-parallel layer quantization over Node worker_threads (row_split.ts says why rows split).
 *
 * A layer of W [out, in] is cut into `workers` contiguous row ranges; the calling thread
 * quantizes the first range itself and `workers - 1` worker threads the others, each with its own
 * tfjs backend of the same kind (quantize_worker.ts). S is copied once into a SharedArrayBuffer
 * that every worker reads. The merged result equals the single-thread one up to float32
 * round-off of the row-block products (same objective within 1e-5 relative; codes equal but for
 * rare ties, tested).
 *
 * Our own pool of a few lines rather than a package (piscina): the workers live for one
 * quantizeModel call, every task of a layer has the same size and is sent at once, and nothing
 * needs queueing, cancellation or resizing; a dependency would add more than it saves.
 *
 * When it stays on the calling thread: `workers: 1`; browsers (no worker_threads); the tfjs-node
 * backend (TensorFlow already multithreads its matMuls, and its native addon is per process);
 * the outlier-aware variant (not row-separable); and layers below WORKER_MIN_FLOPS, where
 * starting threads and copying S costs more than it saves. Workers start lazily, at the first
 * layer that qualifies. Workers always run plugins/quantease's quantizeLayer (the calling thread
 * runs the quantizer it was given).
 *
 * Measured (bench:quantize-model, 2 cores shared with ~25 other runnable processes): starting a
 * worker costs about 2.4 s of CPU under tsx (tfjs, the wasm backend and our kernels loaded again),
 * so on a saturated machine workers do not pay; they are meant for idle cores.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayerProblem, QuantizedLayer, QuantizeLayerOptions } from '../../plugins/quantease/types.ts';
import { estimatedFlops, mergeRowParts, rowRanges, rowSeparable, toRowPart, type RowPartResult } from './row_split.ts';

/**
 * Layers estimated below this many flops (row_split.ts estimatedFlops) stay on the calling
 * thread. 1e9 is about 0.5 s of single-threaded wasm matMul on the 2-core reference machine,
 * against roughly 0.5-1 s to start a worker with its backend (paid once per quantizeModel call).
 */
export const WORKER_MIN_FLOPS = 1e9;

export type LayerQuantizerFn = (problem: LayerProblem, options: QuantizeLayerOptions) => Promise<QuantizedLayer>;

export interface LayerQuantizerHandle {
  quantize(problem: LayerProblem, options: QuantizeLayerOptions): Promise<QuantizedLayer>;
  /** Threads that quantized rows so far (1 while no worker ran). */
  readonly workers: number;
  close(): Promise<void>;
}

interface WorkerLike {
  postMessage(message: unknown, transfer?: ArrayBuffer[]): void;
  on(event: 'message', fn: (m: WorkerReply) => void): void;
  on(event: 'error', fn: (e: Error) => void): void;
  terminate(): Promise<number>;
}

interface WorkerReply {
  id: number;
  ok: boolean;
  codes: Uint8Array;
  values: Float32Array;
  grid: RowPartResult['grid'];
  stats: RowPartResult['stats'];
  error?: { name: string; message: string };
}

/** Node builtins in variables, so browser bundlers do not try to resolve them (never loaded there). */
const NODE_OS: string = 'node:os';
const NODE_WORKER_THREADS: string = 'node:worker_threads';

function isNode(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string } } }).process;
  return typeof p?.versions?.node === 'string';
}

/** Cores of this machine in Node, 1 elsewhere. */
export async function defaultWorkers(): Promise<number> {
  if (!isNode()) return 1;
  const os = (await import(NODE_OS)) as typeof import('node:os');
  return Math.max(1, typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length);
}

/** The worker entry beside this file, with this file's own extension (.ts under tsx, .js when built). */
export function workerEntry(): URL {
  const ext = /\.[cm]?[jt]s$/.exec(new URL(import.meta.url).pathname)?.[0] ?? '.js';
  return new URL(`./quantize_worker${ext}`, import.meta.url);
}

/**
 * A worker's bootstrap for a TypeScript entry (the repository run under tsx): Node 20 does not
 * apply the parent's `--import tsx` hooks to a worker's entry module, so the worker registers
 * tsx's ESM hooks itself, then imports the entry.
 */
function tsBootstrap(entry: URL): string {
  const api = import.meta.resolve('tsx/esm/api');
  return `import(${JSON.stringify(api)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); });`;
}

/** Backend name to request in a worker for the main thread's engine backend, or null: stay single. */
function workerBackend(): string | null {
  const b = tf.getBackend();
  return b === 'wasm' || b === 'cpu' ? b : null;
}

class WorkerPool {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (r: WorkerReply) => void; reject: (e: Error) => void }>();
  private failure: Error | null = null;

  private constructor(private readonly threads: WorkerLike[]) {
    for (const w of threads) {
      w.on('message', (m) => {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.ok) p.resolve(m);
        else {
          const e = new Error(m.error?.message ?? 'worker failed');
          e.name = m.error?.name ?? 'Error';
          p.reject(e);
        }
      });
      w.on('error', (e) => {
        this.failure = e;
        for (const p of this.pending.values()) p.reject(e);
        this.pending.clear();
      });
    }
  }

  static async start(count: number, backend: string): Promise<WorkerPool> {
    const { Worker } = (await import(NODE_WORKER_THREADS)) as typeof import('node:worker_threads');
    const entry = workerEntry();
    const threads = Array.from({ length: count }, () => {
      const w = entry.pathname.endsWith('.ts')
        ? new Worker(tsBootstrap(entry), { eval: true, workerData: { backend } })
        : new Worker(entry, { workerData: { backend } });
      return w as unknown as WorkerLike;
    });
    return new WorkerPool(threads);
  }

  get size(): number {
    return this.threads.length;
  }

  run(k: number, task: Record<string, unknown>, transfer: ArrayBuffer[]): Promise<WorkerReply> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.threads[k].postMessage({ ...task, id }, transfer);
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.threads.map((w) => w.terminate()));
  }
}

/**
 * Opens a quantizer for one quantizeModel call: `quantizeLayer` itself when one thread is asked
 * for (or possible), else a row-parallel wrapper around it. `requested` null = the core count;
 * layers below `minFlops` (default WORKER_MIN_FLOPS) stay on the calling thread.
 */
export async function openQuantizer(
  quantizeLayer: LayerQuantizerFn,
  requested: number | null,
  minFlops = WORKER_MIN_FLOPS,
): Promise<LayerQuantizerHandle> {
  const count = requested ?? (await defaultWorkers());
  const backend = workerBackend();
  if (count <= 1 || !isNode() || backend === null) {
    return { quantize: quantizeLayer, workers: 1, close: async () => {} };
  }
  let pool: WorkerPool | null = null;
  let used = 1;
  return {
    get workers() {
      return used;
    },
    async quantize(problem, options) {
      const [out, inDim] = problem.weight.shape;
      if (!rowSeparable(options) || out < 2 || estimatedFlops(out, inDim, options) < minFlops) {
        return quantizeLayer(problem, options);
      }
      pool ??= await WorkerPool.start(count - 1, backend);
      const t0 = performance.now();
      const ranges = rowRanges(out, pool.size + 1);
      const sab = new SharedArrayBuffer(4 * inDim * inDim);
      new Float32Array(sab).set(await problem.sigma.data());
      const w = (await problem.weight.data()) as Float32Array;
      const remote = ranges.slice(1).map(([r0, r1], k) => {
        const part = w.slice(r0 * inDim, r1 * inDim); // [r1 - r0, in]
        return pool!.run(k, { sigma: sab, cols: inDim, weight: part, rows: r1 - r0, options }, [part.buffer]);
      });
      // The calling thread takes the first range while the workers run theirs.
      const [r0, r1] = ranges[0];
      const head = tf.slice(problem.weight, [r0, 0], [r1 - r0, inDim]) as tf.Tensor2D; // [r1 - r0, in]
      let local: RowPartResult;
      try {
        const q = await quantizeLayer({ weight: head, sigma: problem.sigma }, options);
        local = toRowPart(q, (await q.weight.data()) as Float32Array);
        q.weight.dispose();
      } catch (err) {
        await Promise.allSettled(remote);
        throw err;
      } finally {
        head.dispose();
      }
      const parts = [local, ...(await Promise.all(remote))];
      used = Math.max(used, parts.length);
      const merged = mergeRowParts(parts, performance.now() - t0);
      return { weight: tf.tensor2d(merged.values, [out, inDim]), codes: merged.codes, grid: merged.grid, stats: merged.stats };
    },
    async close() {
      await pool?.close();
      pool = null;
    },
  };
}
