/**
 * Sparse + quantized on a fixed support: pruned weights stay exact zeros, kept weights lie on the
 * grid, the objective (float64, recomputed here) is no worse than RTN of the pruned W, and a full
 * mask reduces to plain RTN.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { OptionError } from '../../../plugins/core/errors.ts';
import { pruneLayer, quantizeOnSupport } from '../../../plugins/prune/index.ts';
import { quantizeLayer } from '../../../plugins/quantease/index.ts';
import { correlatedProblem, objective64, onGrid, tensors } from '../quantease/helpers.ts';
import { PATTERNS } from './exact.ts';

test.before(async () => {
  await tf.setBackend('cpu');
});


for (const [label, pattern] of PATTERNS) {
  test.serial(`${label}: zeros stay zeros, kept weights on the grid, objective <= RTN of the pruned W`, async (t) => {
    const before = tf.memory().numTensors;
    let improved = 0;
    for (const bits of [3, 4]) {
      for (const groupSize of [0, 16]) {
        const p = correlatedProblem(12, 48, 96, 7 + bits + groupSize, 2);
        const { weight, sigma } = tensors(p);
        const pruned = pruneLayer({ weight, sigma }, { method: 'sparsegpt', pattern, lowerBound: 'none' });
        const q = quantizeOnSupport({ weight, sigma }, pruned, { bits, groupSize });
        const values = q.weight.dataSync() as Float32Array;
        for (let i = 0; i < values.length; i++) {
          if (!pruned.mask[i]) t.true(Object.is(values[i], 0) || values[i] === 0, `pruned weight ${i} is ${values[i]}`);
        }
        t.true(onGrid(values, q.codes, q.grid, p.cols), 'kept weights on the grid');
        // Independent baseline: plain RTN of the pruned W (0 is a grid point, so zeros survive it).
        const rtn = await quantizeLayer({ weight: pruned.weight, sigma }, { method: 'rtn', bits, groupSize });
        const rtnValues = rtn.weight.dataSync() as Float32Array;
        const fRtn = objective64(p.w, rtnValues, p.s, p.rows, p.cols);
        const f = objective64(p.w, values, p.s, p.rows, p.cols);
        t.true(f <= fRtn * (1 + 1e-9), `${label} bits ${bits} g ${groupSize}: ${f} > RTN ${fRtn}`);
        if (f < 0.9 * fRtn) improved++;
        t.true(Math.abs(q.stats.objectiveAfter - f) <= 1e-6 * f + 1e-12, 'reported objective is the float64 objective');
        // the history never rises
        const h = q.stats.history ?? [];
        for (let k = 1; k < h.length; k++) t.true(h[k] <= h[k - 1] * (1 + 1e-12));
        // The RTN method on the support is exactly RTN of the pruned W.
        const qr = quantizeOnSupport({ weight, sigma }, pruned, { method: 'rtn', bits, groupSize });
        t.deepEqual(Array.from(qr.weight.dataSync()), Array.from(rtnValues));
        for (const x of [pruned.weight, q.weight, qr.weight, rtn.weight, weight, sigma]) x.dispose();
      }
    }
    t.true(improved >= 3, `coordinate descent on the support beat RTN by 10% in only ${improved} of 4 settings`);
    t.is(tf.memory().numTensors, before, 'tensor leak');
  });
}

test.serial('a full mask is plain quantization: RTN equals quantizeLayer rtn bit for bit', async (t) => {
  const p = correlatedProblem(6, 20, 40, 3, 1);
  const { weight, sigma } = tensors(p);
  const mask = new Uint8Array(p.rows * p.cols).fill(1);
  const q = quantizeOnSupport({ weight, sigma }, { weight, mask }, { method: 'rtn', bits: 4 });
  const ref = await quantizeLayer({ weight, sigma }, { method: 'rtn', bits: 4 });
  t.deepEqual(Array.from(q.codes), Array.from(ref.codes));
  t.deepEqual(Array.from(q.weight.dataSync()), Array.from(ref.weight.dataSync()));
  const qe = quantizeOnSupport({ weight, sigma }, { weight, mask }, { bits: 4 });
  t.true(qe.stats.objectiveAfter <= ref.stats.objectiveAfter * (1 + 1e-6));
  for (const x of [q.weight, ref.weight, qe.weight, weight, sigma]) x.dispose();
});

test.serial('bad options and masks fail loudly, naming the argument', (t) => {
  const p = correlatedProblem(4, 8, 16, 1, 0);
  const { weight, sigma } = tensors(p);
  const mask = new Uint8Array(32).fill(1);
  t.throws(() => quantizeOnSupport({ weight, sigma }, { weight, mask }, { outliers: { fraction: 0.1 } } as never), { instanceOf: OptionError, message: /outliers/ });
  t.throws(() => quantizeOnSupport({ weight, sigma }, { weight, mask }, { bits: 9 }), { instanceOf: OptionError, message: /bits/ });
  t.throws(() => quantizeOnSupport({ weight, sigma }, { weight, mask: new Uint8Array(5) }), { message: /pruned\.mask/ });
  weight.dispose();
  sigma.dispose();
});
