import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers';
import { InputError } from '../../../plugins/core/errors.ts';
import { quantizeModel } from '../../../adapters/quantize/quantize_model.ts';
import {
  WASM_HEAP_MAX_BYTES, backendMemoryLimit, checkLayerMemory, layerPeakBytes,
} from '../../../adapters/quantize/memory.ts';

test.after.always(async () => {
  await tf.setBackend('cpu');
});

test('peak bytes are three float32 copies of S [in, in] (derived by hand below)', (t) => {
  t.is(layerPeakBytes(9216), 3 * 4 * 9216 * 9216); // 1,019,215,872 bytes: fits in 4 GiB
  t.is(backendMemoryLimit('wasm'), WASM_HEAP_MAX_BYTES);
  t.is(backendMemoryLimit('cpu'), Infinity);
});

test('the largest width that fits is the one with 12 in^2 <= limit - used', (t) => {
  // 12 * 18918^2 = 4,294,688,688 <= 4,294,901,760 (WASM_HEAP_MAX_BYTES) < 12 * 18919^2 = 4,295,142,732.
  t.notThrows(() => checkLayerMemory('d', 18918, 0, WASM_HEAP_MAX_BYTES, 'wasm'));
  const err = t.throws(() => checkLayerMemory('big_dense', 18919, 0, WASM_HEAP_MAX_BYTES, 'wasm'), { instanceOf: InputError });
  t.regex(err!.message, /^Layer big_dense has 18919 inputs: its second-moment matrix S \[18919, 18919\] takes 1\.33 GiB and quantizing it needs about 4\.00 GiB of wasm memory/);
  t.regex(err!.message, /exclude: \['big_dense'\]/);
  t.regex(err!.message, /groupSize does not reduce this/);
  // Memory already in use counts: 9216 fits an empty heap, not one with 3.5 GiB taken.
  t.notThrows(() => checkLayerMemory('d', 9216, 0, WASM_HEAP_MAX_BYTES, 'wasm'));
  t.throws(() => checkLayerMemory('d', 9216, 3.5 * 2 ** 30, WASM_HEAP_MAX_BYTES, 'wasm'), { instanceOf: InputError, message: /only 0\.50 GiB/ });
  t.notThrows(() => checkLayerMemory('d', 1e6, 0, Infinity, 'cpu'));
});

test.serial('quantizeModel on wasm refuses a too-wide layer before any work; nothing changes or leaks', async (t) => {
  await tf.setBackend('wasm');
  const width = 19000;
  const model = tfl.sequential({ layers: [
    tfl.layers.dense({ inputShape: [8], units: 4, name: 'small', kernelInitializer: tfl.initializers.glorotNormal({ seed: 1 }) }),
    tfl.layers.dense({ units: width, name: 'wide_out', kernelInitializer: tfl.initializers.glorotNormal({ seed: 2 }) }),
    tfl.layers.dense({ units: 1, name: 'wide_in', kernelInitializer: tfl.initializers.glorotNormal({ seed: 3 }) }),
  ] });
  const x = tf.randomNormal([4, 8], 0, 1, 'float32', 4);
  const weights = model.getWeights().map((w) => w.dataSync().slice());
  const before = tf.memory().numTensors;
  const events: string[] = [];
  await t.throwsAsync(quantizeModel(model, x, { method: 'rtn', onProgress: (e) => events.push(`${e.layer}:${e.stage}`) }), {
    instanceOf: InputError, message: /^Layer wide_in has 19000 inputs/,
  });
  t.deepEqual(events, [], 'refused before the first layer was captured');
  t.is(tf.memory().numTensors, before);
  t.deepEqual(model.getWeights().map((w) => w.dataSync().slice()), weights);
  // Excluding the layer, as the message says, works.
  const { model: q, report } = await quantizeModel(model, x, { method: 'rtn', exclude: ['wide_in'], compareRtn: false });
  t.deepEqual(report.layers.map((l) => l.status), ['quantized', 'quantized', 'skipped']);
  q.dispose();
  t.is(tf.memory().numTensors, before);
  x.dispose();
  model.dispose();
});
