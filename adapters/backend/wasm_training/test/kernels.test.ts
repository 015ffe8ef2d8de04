/**
 * The wasm training kernels against the cpu backend (both registered in this process) and
 * against float64 references where cpu cannot serve (dilated filter gradients), with leak
 * checks on tensors, bytes and wasm data ids.
 */
import test, { type ExecutionContext } from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import {
  registerWasmTrainingKernels,
  unregisterWasmTrainingKernels,
  WASM_TRAINING_KERNELS,
} from '../index.ts';
import { filterGradRef, inputGradRef, type ConvGeometry } from './conv_reference.ts';

const RTOL = 1e-4;

test.before(async () => {
  registerWasmTrainingKernels();
  await tf.setBackend('cpu');
  await tf.setBackend('wasm');
});

/** Max |a - b| over max |b|: the relative error the tolerance applies to. */
function relError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  return diff / Math.max(scale, 1e-30);
}

function wasmDataIds(): number {
  return (tf.findBackend('wasm') as unknown as { numDataIds(): number }).numDataIds();
}

/** Runs `f` on one backend, returns its values, and checks that nothing leaked. */
async function runOn(backend: string, f: () => tf.Tensor, t: { is: (a: unknown, b: unknown, m?: string) => void }) {
  await tf.setBackend(backend);
  const before = tf.memory();
  const ids = backend === 'wasm' ? wasmDataIds() : 0;
  const y = f();
  const values = Array.from(await y.data());
  const shape = y.shape;
  y.dispose();
  t.is(tf.memory().numTensors, before.numTensors, `${backend}: tensors leaked`);
  t.is(tf.memory().numBytes, before.numBytes, `${backend}: bytes leaked`);
  if (backend === 'wasm') t.is(wasmDataIds(), ids, 'wasm: data ids leaked inside a kernel');
  return { values, shape };
}

/** `f` on cpu and on wasm: same shape, values within RTOL. */
async function sameOnBoth(t: ExecutionContext, label: string, f: () => tf.Tensor) {
  const cpu = await runOn('cpu', f, t);
  const wasm = await runOn('wasm', f, t);
  t.deepEqual(wasm.shape, cpu.shape, label);
  const err = relError(wasm.values, cpu.values);
  t.true(err <= RTOL, `${label}: relative error ${err}`);
}

const randn = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);

test.serial('registerWasmTrainingKernels is idempotent and unregister restores the stock kernels', (t) => {
  const names = registerWasmTrainingKernels();
  t.deepEqual(names, [...WASM_TRAINING_KERNELS]);
  t.deepEqual(registerWasmTrainingKernels(), names);
  const ours = tf.getKernel('BatchMatMul', 'wasm');
  t.deepEqual(unregisterWasmTrainingKernels().sort(), [...names].sort());
  t.not(tf.getKernel('BatchMatMul', 'wasm') as unknown, ours as unknown);
  t.is(tf.getKernel('Conv2DBackpropFilter', 'wasm') as unknown, undefined);
  t.deepEqual(unregisterWasmTrainingKernels(), []);
  t.deepEqual(registerWasmTrainingKernels(), names);
});

for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
  test.serial(`BatchMatMul transposeA=${ta} transposeB=${tb}: batched, broadcast and its gradient`, async (t) => {
    const a = (s: number[]) => randn(ta ? [s[0], s[2], s[1]] : s, 1);
    const b = (s: number[]) => randn(tb ? [s[0], s[2], s[1]] : s, 2);
    await sameOnBoth(t, 'rank 3', () => tf.tidy(() => tf.matMul(a([3, 5, 7]), b([3, 7, 4]), ta, tb)));
    await sameOnBoth(t, 'broadcast batch', () =>
      tf.tidy(() => tf.matMul(a([2, 6, 3]), tf.squeeze(b([1, 3, 5]), [0]), ta, tb)),
    );
    await sameOnBoth(t, 'fused', () =>
      tf.tidy(() =>
        tf.fused.matMul({ a: a([1, 9, 6]), b: b([1, 6, 5]), transposeA: ta, transposeB: tb, bias: randn([5], 3), activation: 'relu' }),
      ),
    );
    for (const which of [0, 1]) {
      await sameOnBoth(t, `grad ${which}`, () =>
        tf.tidy(() => {
          const loss = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.square(tf.matMul(x, y, ta, tb)));
          return tf.grads(loss)([a([2, 5, 6]), b([2, 6, 3])])[which];
        }),
      );
    }
  });
}

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
interface ConvCase {
  x: [number, number, number, number];
  f: [number, number, number, number];
  strides: [number, number];
  pad: Pad;
}
const CONV_CASES: ConvCase[] = [
  { x: [2, 7, 6, 3], f: [3, 3, 3, 4], strides: [1, 1], pad: 'same' },
  { x: [2, 7, 6, 3], f: [3, 3, 3, 4], strides: [2, 2], pad: 'same' },
  { x: [3, 9, 8, 2], f: [3, 2, 2, 3], strides: [2, 1], pad: 'valid' },
  { x: [1, 8, 8, 2], f: [1, 1, 2, 5], strides: [2, 2], pad: 'valid' },
  { x: [1, 5, 5, 2], f: [1, 1, 2, 2], strides: [2, 2], pad: 'same' },
  { x: [2, 9, 5, 2], f: [3, 3, 2, 2], strides: [2, 1], pad: [[0, 0], [1, 2], [2, 0], [0, 0]] },
];
const label = (c: ConvCase) => `x=${c.x} f=${c.f} s=${c.strides} pad=${JSON.stringify(c.pad)}`;

test.serial('Conv2DBackpropFilter and Conv2DBackpropInput match cpu (through tf.grad of conv2d)', async (t) => {
  for (const c of CONV_CASES) {
    for (const which of [0, 1]) {
      await sameOnBoth(t, `${label(c)} ${which ? 'dW' : 'dx'}`, () =>
        tf.tidy(() => {
          const loss = (x: tf.Tensor, w: tf.Tensor) =>
            tf.sum(tf.square(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.strides, c.pad)));
          return tf.grads(loss)([randn(c.x, 1), randn(c.f, 2)])[which];
        }),
      );
    }
  }
});

test.serial('Conv2DBackpropInput with NCHW still goes to the stock kernel', async (t) => {
  await sameOnBoth(t, 'NCHW', () =>
    tf.tidy(() =>
      tf.engine().runKernel(
        'Conv2DBackpropInput',
        { dy: randn([2, 4, 3, 3], 14), filter: randn([3, 3, 2, 4], 15) },
        { strides: [1, 1], pad: 'valid', dataFormat: 'NCHW', dimRoundingMode: undefined, inputShape: [2, 2, 5, 5] } as unknown as tf.NamedAttrMap,
      ) as tf.Tensor,
    ),
  );
});

test.serial('depthwise backprop filter and input match cpu (through tf.grad), multipliers 1 and 2', async (t) => {
  for (const c of CONV_CASES) {
    for (const multiplier of [1, 2]) {
      const f: [number, number, number, number] = [c.f[0], c.f[1], c.x[3], multiplier];
      for (const which of [0, 1]) {
        await sameOnBoth(t, `${label(c)} M=${multiplier} ${which ? 'dW' : 'dx'}`, () =>
          tf.tidy(() => {
            const loss = (x: tf.Tensor, w: tf.Tensor) =>
              tf.sum(tf.square(tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, c.strides, c.pad)));
            return tf.grads(loss)([randn(c.x, 3), randn(f, 4)])[which];
          }),
        );
      }
    }
  }
});

/** tfjs rejects dilations in conv gradients, but the kernels take them: check against float64. */
test.serial('dilated filter and input gradients match the float64 reference on wasm', async (t) => {
  await tf.setBackend('wasm');
  const cases: Array<{ x: [number, number, number, number]; f: [number, number, number, number]; d: [number, number]; pad: Pad; depthwise: boolean }> = [
    { x: [2, 9, 8, 2], f: [3, 3, 2, 3], d: [2, 2], pad: 'same', depthwise: false },
    { x: [1, 10, 7, 3], f: [2, 3, 3, 2], d: [3, 2], pad: 'valid', depthwise: false },
    { x: [2, 9, 8, 2], f: [3, 3, 2, 2], d: [2, 2], pad: 'same', depthwise: true },
    { x: [1, 10, 7, 3], f: [2, 3, 3, 1], d: [3, 1], pad: [[0, 0], [2, 1], [0, 3], [0, 0]], depthwise: true },
  ];
  for (const c of cases) {
    const info = tf.backend_util.computeConv2DInfo(c.x, c.f, 1, c.d, c.pad, undefined, c.depthwise);
    const g: ConvGeometry = {
      xShape: c.x, filterShape: c.f, outShape: info.outShape, strides: [1, 1], dilations: c.d,
      padTop: info.padInfo.top, padLeft: info.padInfo.left, depthwise: c.depthwise,
    };
    const x = randn(c.x, 5);
    const w = randn(c.f, 6);
    const dy = randn(info.outShape, 7);
    const [xv, wv, dyv] = [x.dataSync(), w.dataSync(), dy.dataSync()];
    const before = tf.memory().numTensors;
    const ids = wasmDataIds();
    const names = c.depthwise
      ? ['DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput']
      : ['Conv2DBackpropFilter', 'Conv2DBackpropInput'];
    const common = { strides: [1, 1], dilations: c.d, pad: c.pad, dataFormat: 'NHWC' };
    const dW = tf.engine().runKernel(names[0], { x, dy }, { ...common, filterShape: c.f }) as tf.Tensor;
    const dX = tf.engine().runKernel(names[1], { dy, filter: w }, { ...common, inputShape: c.x }) as tf.Tensor;
    const errW = relError(dW.dataSync(), filterGradRef(g, xv, dyv));
    const errX = relError(dX.dataSync(), inputGradRef(g, wv, dyv));
    t.true(errW <= RTOL, `${JSON.stringify(c)} dW relative error ${errW}`);
    t.true(errX <= RTOL, `${JSON.stringify(c)} dx relative error ${errX}`);
    tf.dispose([dW, dX]);
    t.is(tf.memory().numTensors, before);
    t.is(wasmDataIds(), ids);
    tf.dispose([x, w, dy]);
  }
});

test.serial('UnsortedSegmentSum and the gradient of gather match cpu', async (t) => {
  await sameOnBoth(t, 'repeated ids, an empty segment', () =>
    tf.tidy(() => tf.unsortedSegmentSum(randn([6, 4], 8), tf.tensor1d([0, 4, 4, 2, 0, 1], 'int32'), 6)),
  );
  await sameOnBoth(t, 'int32 values', () =>
    tf.tidy(() => tf.unsortedSegmentSum(tf.tensor2d([[1, 2], [3, 4], [5, 6]], [3, 2], 'int32'), tf.tensor1d([1, 1, 0], 'int32'), 3)),
  );
  await sameOnBoth(t, 'gather grad (embedding)', () =>
    tf.tidy(() => {
      const ids = tf.tensor2d([[1, 3, 3], [9, 0, 1]], [2, 3], 'int32');
      return tf.grad((table: tf.Tensor) => tf.sum(tf.square(tf.gather(table, ids))))(randn([10, 4], 9));
    }),
  );
});

test.serial('repeated training-kernel calls leave tensors, bytes and wasm data ids unchanged', async (t) => {
  await tf.setBackend('wasm');
  const x = randn([2, 8, 8, 3], 10);
  const w = randn([3, 3, 3, 4], 11);
  const dwf = randn([3, 3, 3, 2], 12);
  const table = randn([10, 4], 13);
  const ids = tf.tensor1d([1, 2, 2, 7], 'int32');
  const step = () =>
    tf.tidy(() => {
      const loss = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, e: tf.Tensor) => {
        const conv = tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same');
        const dw = tf.depthwiseConv2d(a as tf.Tensor4D, c as tf.Tensor4D, 1, 'valid');
        const mm = tf.matMul(tf.reshape(conv, [2, -1]), tf.reshape(conv, [2, -1]), false, true);
        return tf.addN([tf.sum(tf.square(conv)), tf.sum(dw), tf.sum(mm), tf.sum(tf.gather(e, ids))]);
      };
      return tf.grads(loss)([x, w, dwf, table]);
    });
  tf.dispose(step()); // warm-up: first calls may allocate caches
  const before = tf.memory();
  const dataIds = wasmDataIds();
  for (let i = 0; i < 5; i++) tf.dispose(step());
  t.is(tf.memory().numTensors, before.numTensors);
  t.is(tf.memory().numBytes, before.numBytes);
  t.is(wasmDataIds(), dataIds);
  tf.dispose([x, w, dwf, table, ids]);
});

/** Conv2D + DepthwiseConv2D on an image, Embedding on tokens, Dense on both. */
function buildModel(): tfl.LayersModel {
  const image = tfl.input({ shape: [8, 8, 2] });
  const tokens = tfl.input({ shape: [5], dtype: 'int32' });
  let a = tfl.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }).apply(image) as tfl.SymbolicTensor;
  a = tfl.layers.depthwiseConv2d({ kernelSize: 3, depthMultiplier: 2, padding: 'valid' }).apply(a) as tfl.SymbolicTensor;
  a = tfl.layers.flatten().apply(a) as tfl.SymbolicTensor;
  let b = tfl.layers.embedding({ inputDim: 12, outputDim: 3 }).apply(tokens) as tfl.SymbolicTensor;
  b = tfl.layers.flatten().apply(b) as tfl.SymbolicTensor;
  const both = tfl.layers.concatenate().apply([a, b]) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 3 }).apply(both) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: [image, tokens], outputs: out });
  model.compile({ optimizer: tf.train.sgd(0.05), loss: 'meanSquaredError' });
  return model;
}

test.serial('a Conv2D + DepthwiseConv2D + Embedding + Dense model trains on wasm like on cpu', async (t) => {
  await tf.setBackend('cpu');
  const init = buildModel();
  const initial = init.getWeights().map((w) => ({ shape: w.shape, values: w.dataSync().slice() }));
  init.dispose();
  const trained: Record<string, Float32Array[]> = {};
  for (const backend of ['cpu', 'wasm']) {
    await tf.setBackend(backend);
    const model = buildModel();
    model.setWeights(initial.map((w) => tf.tensor(w.values, w.shape)));
    const images = randn([6, 8, 8, 2], 20);
    const tokens = tf.tensor2d([[1, 2, 3, 4, 5], [0, 0, 1, 11, 7], [3, 3, 3, 3, 3], [9, 8, 7, 6, 5], [2, 4, 6, 8, 10], [1, 1, 2, 3, 5]], [6, 5], 'int32');
    const targets = randn([6, 3], 21);
    const before = tf.memory().numTensors;
    await model.fit([images, tokens], targets, { epochs: 3, batchSize: 3, shuffle: false, verbose: 0 });
    t.true(tf.memory().numTensors <= before + 1, `${backend}: fit leaked tensors`);
    trained[backend] = model.getWeights().map((w) => w.dataSync().slice() as Float32Array);
    tf.dispose([images, tokens, targets]);
    model.dispose();
  }
  t.is(trained.wasm.length, trained.cpu.length);
  trained.cpu.forEach((cpu, i) => {
    const err = relError(trained.wasm[i], cpu);
    t.true(err <= 1e-4, `weight ${i}: relative error ${err}`);
    t.true(relError(cpu, initial[i].values) > 1e-3, `weight ${i} did not train`);
  });
});
