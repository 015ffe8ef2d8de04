/**
 * Calibration data for quantizeModel: a tensor (single-input models), an array of tensors (one per
 * model input), or a dataset (anything with an async `iterator()`, e.g. tf.data.Dataset) whose
 * elements are a tensor, an array of tensors, or `{xs}` with xs one of those (or a record keyed by
 * input name). Tensors are streamed in batches of `batchSize` rows; dataset elements are used as
 * they come (a dataset element with one rank less than the model input is one example).
 *
 * Tensors passed by the caller are never disposed; tensors yielded by a dataset are consumed
 * (disposed after use), as tf.data consumers do.
 *
 * `maxBatches` caps the batches taken from the source (an endless dataset, e.g. `ds.repeat()`,
 * needs it: one whose `size` is Infinity is refused without it). Between batches the source
 * yields to the event loop (a macrotask), so timers, I/O and progress output keep running.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { InputError, describeValue } from '../../plugins/core/errors.ts';

export interface DatasetLike {
  iterator(): Promise<{ next(): Promise<{ value: unknown; done?: boolean }> }>;
}

export type Calibration = tf.Tensor | tf.Tensor[] | DatasetLike;

function isDatasetLike(x: unknown): x is DatasetLike {
  return typeof x === 'object' && x !== null && typeof (x as DatasetLike).iterator === 'function';
}

/** Expected per-example shapes of the model inputs (null = any size). */
function inputShapes(model: tfl.LayersModel): Array<Array<number | null>> {
  return model.inputs.map((s) => s.shape.slice(1));
}

function checkBatch(tensors: tf.Tensor[], model: tfl.LayersModel, where: string): tf.Tensor[] {
  const shapes = inputShapes(model);
  if (tensors.length !== shapes.length) {
    throw new InputError(
      `Calibration ${where} has ${tensors.length} input tensor(s) but the model has ${shapes.length} input(s) ` +
        `(${model.inputs.map((s) => s.name).join(', ')}). Pass one tensor per model input.`,
    );
  }
  tensors.forEach((t, i) => {
    if (!(t instanceof tf.Tensor)) {
      throw new InputError(`Calibration ${where} input ${i} must be a tf.Tensor. Received: ${describeValue(t)}.`);
    }
    if (t.isDisposed) throw new InputError(`Calibration ${where} input ${i} is a disposed tensor.`);
    const want = shapes[i];
    const got = t.shape.slice(1);
    const ok = got.length === want.length && want.every((d, k) => d === null || d === got[k]);
    if (!ok) {
      throw new InputError(
        `Calibration ${where} input ${i} has shape [${t.shape}] but the model input ` +
          `${model.inputs[i].name} expects [n, ${want.map((d) => (d === null ? '*' : d)).join(', ')}].`,
      );
    }
  });
  return tensors;
}

/** Turns a dataset element into a list of tensors (one per model input). */
function elementTensors(value: unknown, model: tfl.LayersModel): tf.Tensor[] {
  let v = value;
  if (typeof v === 'object' && v !== null && !(v instanceof tf.Tensor) && !Array.isArray(v) && 'xs' in v) {
    v = (v as { xs: unknown }).xs;
  }
  let list: tf.Tensor[];
  if (v instanceof tf.Tensor) list = [v];
  else if (Array.isArray(v)) list = v as tf.Tensor[];
  else if (typeof v === 'object' && v !== null) {
    const rec = v as Record<string, tf.Tensor>;
    list = model.inputs.map((s) => {
      const t = rec[s.name] ?? rec[s.name.replace(/:\d+$/, '')] ?? rec[s.sourceLayer.name];
      if (!t) throw new InputError(`Calibration dataset element has no tensor for model input "${s.sourceLayer.name}".`);
      return t;
    });
  } else {
    throw new InputError(`Calibration dataset element must be a tensor, an array of tensors or {xs}. Received: ${describeValue(value)}.`);
  }
  // One example (rank of an input minus one): add the batch axis.
  return list.map((t, i) => {
    const rank = model.inputs[i]?.shape.length;
    if (t instanceof tf.Tensor && rank !== undefined && t.rank === rank - 1) {
      const e = tf.expandDims(t, 0);
      t.dispose();
      return e;
    }
    return t;
  });
}

/**
 * Waits for one macrotask (setImmediate in Node, a MessageChannel message in browsers), so other
 * work queued on the event loop runs between calibration batches.
 */
export function yieldToEventLoop(): Promise<void> {
  const g = globalThis as { setImmediate?: (f: () => void) => void };
  if (typeof g.setImmediate === 'function') return new Promise((resolve) => g.setImmediate!(resolve));
  if (typeof MessageChannel === 'function') {
    return new Promise((resolve) => {
      const ch = new MessageChannel();
      ch.port1.onmessage = () => {
        ch.port1.close();
        resolve();
      };
      ch.port2.postMessage(null);
    });
  }
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** A re-iterable source of calibration batches for one model. */
export interface CalibrationSource {
  /** Calls `fn` on every batch (one tensor per model input); the batch is disposed after fn returns. */
  forEachBatch(fn: (batch: tf.Tensor[]) => Promise<void> | void): Promise<number>;
}

/**
 * Validates calibration against the model's inputs and returns a re-iterable batch source.
 * Throws InputError for an empty set, a wrong number of inputs or a shape mismatch.
 */
export function calibrationSource(calibration: Calibration, model: tfl.LayersModel, batchSize: number, maxBatches = Infinity): CalibrationSource {
  if (calibration instanceof tf.Tensor || Array.isArray(calibration)) {
    const tensors = checkBatch(calibration instanceof tf.Tensor ? [calibration] : calibration, model, 'tensor');
    const n = tensors[0].shape[0];
    if (n === 0) throw new InputError('The calibration set is empty (0 rows). Pass at least one example.');
    for (const t of tensors) {
      if (t.shape[0] !== n) throw new InputError(`Calibration tensors disagree on the number of rows: ${tensors.map((x) => x.shape[0]).join(' vs ')}.`);
    }
    return {
      async forEachBatch(fn) {
        const end = Math.min(n, maxBatches * batchSize);
        for (let start = 0; start < end; start += batchSize) {
          if (start > 0) await yieldToEventLoop();
          const size = Math.min(batchSize, end - start);
          const batch = tensors.map((t) => tf.slice(t, start, size)); // [size, ...inputShape]
          try {
            await fn(batch);
          } finally {
            tf.dispose(batch);
          }
        }
        return end;
      },
    };
  }
  if (isDatasetLike(calibration)) {
    const size = (calibration as { size?: unknown }).size;
    if (size === Infinity && maxBatches === Infinity) {
      throw new InputError(
        'The calibration dataset is endless (its size is Infinity, e.g. after repeat()): pass `maxBatches` ' +
          '(e.g. maxBatches: 32) or take a finite part of it (dataset.take(n)).',
      );
    }
    return {
      async forEachBatch(fn) {
        const it = await calibration.iterator();
        let rows = 0;
        for (let index = 0; index < maxBatches; index++) {
          if (index > 0) await yieldToEventLoop();
          const r = await it.next();
          if (r.done) break;
          const batch = elementTensors(r.value, model);
          try {
            checkBatch(batch, model, `dataset element ${index}`);
            rows += batch[0].shape[0];
            if (batch[0].shape[0] > 0) await fn(batch);
          } finally {
            tf.dispose(batch);
          }
        }
        if (rows === 0) throw new InputError('The calibration dataset is empty (it yielded no rows). Pass at least one example.');
        return rows;
      },
    };
  }
  throw new InputError(
    `\`calibration\` must be a tf.Tensor, an array of tf.Tensor (one per model input) or a dataset with iterator(). ` +
      `Received: ${describeValue(calibration)}.`,
  );
}
