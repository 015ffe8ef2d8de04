/**
 * The packedModel() IOHandler: tf.loadLayersModel(packedModel(...)) and
 * model.save(packedModel(dir, {payload, report})) where tfjs users load and save; loadQuantized
 * and saveQuantized as its short forms; the payload must belong to the model being saved.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { quantizeModel } from '../../../adapters/quantize/quantize_model.ts';
import { packedModel } from '../../../adapters/io/packed_node.ts';
import { packedModel as browserPackedModel, registerPackedRouter } from '../../../adapters/io/packed_handler.ts';
import { loadQuantized } from '../../../adapters/io/load_quantized.ts';
import { saveQuantized } from '../../../adapters/io/save_quantized.ts';
import type { PackedModelJSON } from '../../../adapters/io/format.ts';
import { InputError, OptionError } from '../../../plugins/core/errors.ts';
import { convDenseModel, correlatedImages, weightValues } from '../quantize/models.ts';

let dir: string;
let calib: tf.Tensor4D;

test.before(async () => {
  await tf.setBackend('cpu');
  dir = await mkdtemp(path.join(tmpdir(), 'packed-handler-'));
  calib = correlatedImages(64, 9);
});

test.after.always(async () => {
  calib.dispose();
  await rm(dir, { recursive: true, force: true });
});

const predict = (m: tfl.LayersModel, x: tf.Tensor) => tf.tidy(() => Array.from((m.predict(x) as tf.Tensor).dataSync()));

test.serial('model.save(packedModel(dir, {payload, report})) then tf.loadLayersModel(packedModel(dir)): the same weights bit for bit', async (t) => {
  const model = convDenseModel(21);
  const q = await quantizeModel(model, calib, { method: 'quantease', bits: 4, sweeps: 3, outliers: { fraction: 0.01 } });
  const before = tf.memory().numTensors;
  const out = path.join(dir, 'a');
  const result = await q.model.save(packedModel(out, { payload: q.payload, report: q.report }));
  t.is(result.modelArtifactsInfo.modelTopologyType, 'JSON');
  t.deepEqual((await readdir(out)).sort(), ['model.json', 'weights.bin']);
  const json = JSON.parse(await readFile(path.join(out, 'model.json'), 'utf8')) as PackedModelJSON;
  t.is(json.formatVersion, 2);
  t.deepEqual(json.report, JSON.parse(JSON.stringify(q.report)));
  t.is(result.modelArtifactsInfo.weightDataBytes, q.report.totals.packedBytes);
  // Every load form gives the quantized weights exactly (no constraints in this model).
  for (const [label, load] of [
    ['tf.loadLayersModel(packedModel(dir))', () => tfl.loadLayersModel(packedModel(out))],
    ['tf.loadLayersModel(packedModel(file:// URL of model.json))', () => tfl.loadLayersModel(packedModel(pathToFileURL(path.join(out, 'model.json')).href))],
    ['browser packedModel with a fetch', () => tfl.loadLayersModel(browserPackedModel('https://cdn.test/a/', {
      fetch: (async (u: string) => new Response(await readFile(path.join(out, new URL(u).pathname.split('/').pop()!)))) as unknown as typeof fetch,
    }))],
    ['loadQuantized(dir)', () => loadQuantized(out)],
  ] as const) {
    const loaded = await load();
    t.deepEqual(weightValues(loaded), weightValues(q.model), label);
    t.deepEqual(predict(loaded, calib), predict(q.model, calib), label);
    loaded.dispose();
  }
  t.is(tf.memory().numTensors, before);
  // quantizeModel's whole result may be passed as the options; saveQuantized writes the same bytes.
  const out2 = path.join(dir, 'b');
  await q.model.save(packedModel(out2, q));
  const out3 = path.join(dir, 'c');
  await saveQuantized(q, out3);
  for (const f of ['model.json', 'weights.bin']) {
    t.deepEqual(await readFile(path.join(out2, f)), await readFile(path.join(out, f)), f);
    t.deepEqual(await readFile(path.join(out3, f)), await readFile(path.join(out, f)), f);
  }
  q.model.dispose();
  model.dispose();
});

test.serial('save refuses a payload from another model, a missing payload, and the browser handler explains where saving lives', async (t) => {
  const a = convDenseModel(31);
  const b = convDenseModel(32); // same architecture, other weights
  const qa = await quantizeModel(a, calib, { method: 'rtn', bits: 4 });
  const qb = await quantizeModel(b, calib, { method: 'rtn', bits: 4 });
  const before = tf.memory().numTensors;
  await t.throwsAsync(qb.model.save(packedModel(path.join(dir, 'x'), { payload: qa.payload })), { instanceOf: InputError, message: /does not match the payload's codes/ });
  // Only the last row of one kernel differs: still found (first, last and middle rows are compared).
  const tampered = new Map(qa.payload);
  const [name, w] = [...qa.payload][qa.payload.size - 1];
  const codes = w.codes.slice();
  codes[codes.length - 1] = (codes[codes.length - 1] + 1) % (1 << w.grid.bits);
  tampered.set(name, { ...w, codes });
  await t.throwsAsync(qa.model.save(packedModel(path.join(dir, 'y'), { payload: tampered })), { instanceOf: InputError, message: /does not match/ });
  await t.throwsAsync(qa.model.save(packedModel(path.join(dir, 'z'))), { instanceOf: InputError, message: /needs quantizeModel's payload/ });
  await t.throwsAsync(qa.model.save(browserPackedModel('https://host/q/', { payload: qa.payload })), { instanceOf: InputError, message: /Saving a packed model writes files, which needs Node/ });
  t.is(tf.memory().numTensors, before);
  t.false((await readdir(dir)).some((f) => ['x', 'y', 'z'].includes(f)), 'nothing written');
  for (const m of [qa.model, qb.model, a, b]) m.dispose();
});

test('options are validated at construction, naming the option and the value', (t) => {
  t.throws(() => packedModel('d', { payload: {} as never }), { instanceOf: OptionError, message: /`payload` must be the payload returned by quantizeModel \(a Map\)\. Received: payload=/ });
  t.throws(() => packedModel('d', { timeoutMs: -1 }), { instanceOf: OptionError, message: /`timeoutMs` must be a number > 0\. Received: timeoutMs=-1/ });
  t.throws(() => packedModel('d', { fetch: 'no' as never }), { instanceOf: OptionError, message: /`fetch` must be a function/ });
  t.throws(() => packedModel('d', { payloads: new Map() } as never), { instanceOf: OptionError, message: /Unknown option `payloads` for packedModel/ });
  t.throws(() => packedModel('' as never), { instanceOf: InputError, message: /`pathOrUrl` must be a non-empty string/ });
  t.throws(() => browserPackedModel(3 as never), { instanceOf: InputError });
  // loadQuantized takes the load options only.
  return t.throwsAsync(loadQuantized('d', { payload: new Map() } as never), { instanceOf: OptionError, message: /Unknown option `payload` for loadQuantized/ });
});

test.serial('the packed+ URL router exists only after registerPackedRouter()', async (t) => {
  const model = convDenseModel(51);
  const q = await quantizeModel(model, calib, { method: 'rtn', bits: 4 });
  const out = path.join(dir, 'routed');
  await q.model.save(packedModel(out, q));
  t.deepEqual(tf.io.getLoadHandlers(`packed+${out}`), [], 'nothing registered at import');
  registerPackedRouter();
  registerPackedRouter(); // idempotent
  t.is(tf.io.getLoadHandlers(`packed+${out}`).length, 1);
  t.deepEqual(tf.io.getLoadHandlers('https://host/plain/model.json').length, 1, 'plain URLs still go to the http handler only');
  const loaded = await tfl.loadLayersModel(`packed+${out}`);
  t.deepEqual(weightValues(loaded), weightValues(q.model));
  for (const m of [loaded, q.model, model]) m.dispose();
});
