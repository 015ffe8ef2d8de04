import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { quantizeModel } from '../../../adapters/quantize/quantize_model.ts';
import { saveQuantized } from '../../../adapters/io/save_quantized.ts';
import { loadQuantized } from '../../../adapters/io/load_quantized.ts';
import { decodePacked } from '../../../adapters/io/decode.ts';
import { encodePacked } from '../../../adapters/io/encode.ts';
import { checksum, type AffineEntry, type PackedModelJSON } from '../../../adapters/io/format.ts';
import { InputError } from '../../../plugins/core/errors.ts';
import { convDenseModel, correlatedImages, weightValues } from '../quantize/models.ts';

let dir: string;
let calib: tf.Tensor4D;
let probe: tf.Tensor4D;

test.before(async () => {
  await tf.setBackend('cpu');
  dir = await mkdtemp(path.join(tmpdir(), 'qio-'));
  calib = correlatedImages(96, 3);
  probe = correlatedImages(32, 5);
});

test.after.always(async () => {
  tf.dispose([calib, probe]);
  await rm(dir, { recursive: true, force: true });
});

const predict = (m: tfl.LayersModel, x: tf.Tensor) => tf.tidy(() => (m.predict(x) as tf.Tensor).dataSync());

for (const [label, opts] of [
  ['4-bit QuantEase', { method: 'quantease', bits: 4, sweeps: 6 }],
  ['3-bit QuantEase + 2% outliers, groups of 16', { method: 'quantease', bits: 3, sweeps: 6, groupSize: 16, outliers: { fraction: 0.02 } }],
  ['5-bit GPTQ symmetric', { method: 'gptq', bits: 5, symmetric: true }],
  ['2-bit RTN', { method: 'rtn', bits: 2 }],
] as const) {
  test.serial(`save then load gives bit-identical weights and predictions: ${label}`, async (t) => {
    const model = convDenseModel(2);
    const before = tf.memory().numTensors;
    const quantized = await quantizeModel(model, calib, opts as never);
  const { model: q, report } = quantized;
    const out = path.join(dir, label.replace(/\W+/g, '_'));
    const saved = await saveQuantized(quantized, out);
    t.deepEqual((await readdir(out)).sort(), ['model.json', 'weights.bin']); // no temporary files left
    t.is(saved.weightsBytes, report.totals.packedBytes);
    const loaded = await loadQuantized(out);
    t.deepEqual(weightValues(loaded), weightValues(q));
    t.deepEqual(predict(loaded, probe), predict(q, probe));
    if ('outliers' in opts) {
      const json = JSON.parse(await readFile(path.join(out, 'model.json'), 'utf8')) as PackedModelJSON;
      const counts = json.quantization.weights.filter((e): e is AffineEntry => e.encoding === 'affine').map((e) => e.outliers?.count ?? 0);
      t.true(counts.every((k) => k > 0), `outliers per kernel: ${counts}`);
    }
    loaded.dispose();
    q.dispose();
    t.is(tf.memory().numTensors, before);
    model.dispose();
  });
}

test.serial('a 4-bit file is close to 8x smaller than float32', async (t) => {
  const big = tfl.sequential({ layers: [
    tfl.layers.dense({ inputShape: [256], units: 256, kernelInitializer: tfl.initializers.glorotNormal({ seed: 4 }), activation: 'relu' }),
    tfl.layers.dense({ units: 256, kernelInitializer: tfl.initializers.glorotNormal({ seed: 5 }) }),
  ] });
  const x = tf.randomNormal([64, 256], 0, 1, 'float32', 6);
  const quantized = await quantizeModel(big, x, { method: 'rtn', bits: 4 });
  const { model: q, report } = quantized;
  const out = path.join(dir, 'big');
  const { weightsBytes } = await saveQuantized(quantized, out);
  const float32 = big.countParams() * 4;
  const ratio = float32 / weightsBytes;
  t.log(`4-bit: ${float32} bytes float32 -> ${weightsBytes} bytes packed (${ratio.toFixed(2)}x smaller; 8x minus per-row scale/zero and float32 biases)`);
  t.true(ratio > 7.3 && ratio < 8);
  t.is(report.totals.float32Bytes, float32);
  const loaded = await loadQuantized(path.join(out, 'model.json'));
  t.deepEqual(predict(loaded, x), predict(q, x));
  loaded.dispose();
  q.dispose();
  big.dispose();
  x.dispose();
});

test.serial('loads through a URL with a custom fetch (the browser path) and from file:// URLs', async (t) => {
  const model = convDenseModel(3);
  const quantized = await quantizeModel(model, calib, { method: 'rtn', bits: 4 });
  const { model: q, report } = quantized;
  const out = path.join(dir, 'url');
  await saveQuantized(quantized, out);
  const fetched: string[] = [];
  const fakeFetch = (async (url: string) => {
    fetched.push(url);
    const file = path.join(out, new URL(url).pathname.split('/').pop()!);
    return new Response(await readFile(file));
  }) as unknown as typeof fetch;
  const stages: string[] = [];
  const a = await loadQuantized('https://example.test/models/q4/', { fetch: fakeFetch, onProgress: (_f, s) => stages.push(s) });
  t.deepEqual(fetched, ['https://example.test/models/q4/model.json', 'https://example.test/models/q4/weights.bin']);
  t.deepEqual(stages, ['model.json', 'weights', 'decode', 'build', 'done']);
  const b = await loadQuantized(pathToFileURL(path.join(out, 'model.json')).href);
  t.deepEqual(predict(a, probe), predict(q, probe));
  t.deepEqual(predict(b, probe), predict(q, probe));
  const notFound = (async () => new Response('nope', { status: 404, statusText: 'Not Found' })) as unknown as typeof fetch;
  await t.throwsAsync(loadQuantized('https://example.test/x/model.json', { fetch: notFound }), { instanceOf: InputError, message: /HTTP 404/ });
  for (const m of [a, b, q, model]) m.dispose();
});

test.serial('model.json is validated in full before weights.bin is requested', async (t) => {
  const model = convDenseModel(6);
  const quantized = await quantizeModel(model, calib, { method: 'rtn', bits: 4 });
  const { model: q, report } = quantized;
  const { json, bin } = await encodePacked(quantized);
  const before = tf.memory().numTensors;
  // A fake server holding one model.json (possibly damaged) and the intact weights.bin; it counts requests.
  const serve = (modelJson: unknown) => {
    const requested: string[] = [];
    const fetchFn = (async (url: string) => {
      const file = new URL(url).pathname.split('/').pop()!;
      requested.push(file);
      return new Response(file === 'model.json' ? JSON.stringify(modelJson) : bin.slice());
    }) as unknown as typeof fetch;
    return { requested, fetchFn };
  };
  const clone = () => JSON.parse(JSON.stringify(json)) as PackedModelJSON;
  const damaged: Array<[string, PackedModelJSON, RegExp]> = [
    ['wrong format version', { ...clone(), formatVersion: 2 }, /^Unsupported packed model version 2: this loader reads version 1\.$/],
    ['wrong manifest version', (() => { const j = clone(); j.quantization.version = 7; return j; })(), /^Unsupported quantization manifest version 7/],
    ['wrong section size', (() => {
      const j = clone();
      j.quantization.weights.find((e): e is AffineEntry => e.encoding === 'affine')!.codes.byteLength -= 1;
      return j;
    })(), /^Malformed packed model: quantization\.weights\[\d+\]\.codes\.byteLength is \d+ but \d+ bytes are expected\.$/],
    ['section past the declared size', (() => {
      const j = clone();
      j.quantization.weights.find((e): e is AffineEntry => e.encoding === 'affine')!.scale.offset = j.weightsByteLength;
      return j;
    })(), /beyond the end of the weights file/],
  ];
  for (const [label, j, message] of damaged) {
    const { requested, fetchFn } = serve(j);
    await t.throwsAsync(loadQuantized('https://example.test/m/', { fetch: fetchFn }), { instanceOf: InputError, message }, label);
    t.deepEqual(requested, ['model.json'], `${label}: weights.bin never requested`);
  }
  // A declared size that the weights file does not have is found as soon as the response arrives
  // (Content-Length, or the streamed body cut at the declared size).
  const { requested, fetchFn } = serve({ ...clone(), weightsByteLength: bin.length + 4 });
  await t.throwsAsync(loadQuantized('https://example.test/m/', { fetch: fetchFn }), {
    instanceOf: InputError, message: /weights\.bin: the (server sends|body has) \d+ bytes.* but \d+ are declared \(truncated/,
  });
  t.deepEqual(requested, ['model.json', 'weights.bin']);
  // The intact model: both files, once each.
  const ok = serve(json);
  const loaded = await loadQuantized('https://example.test/m/model.json', { fetch: ok.fetchFn });
  t.deepEqual(ok.requested, ['model.json', 'weights.bin']);
  t.deepEqual(weightValues(loaded), weightValues(q));
  loaded.dispose();
  t.is(tf.memory().numTensors, before);
  q.dispose();
  model.dispose();
});

test.serial('truncated, malformed, wrong-version and out-of-range files are rejected with clear errors', async (t) => {
  const model = convDenseModel(4);
  const quantized = await quantizeModel(model, calib, { method: 'quantease', bits: 3, sweeps: 4, outliers: { fraction: 0.02 } });
  const { model: q, report } = quantized;
  const { json, bin } = await encodePacked(quantized);
  const before = tf.memory().numTensors;
  const clone = () => JSON.parse(JSON.stringify(json)) as PackedModelJSON & Record<string, unknown>;
  const affine = (j: PackedModelJSON) => j.quantization.weights.find((e): e is AffineEntry => e.encoding === 'affine' && !!e.outliers)!;
  const cases: Array<[string, () => void, RegExp]> = [
    ['truncated weights', () => decodePacked(json, bin.slice(0, bin.length - 5)), /has \d+ bytes but model.json expects \d+: the file is truncated/],
    ['wrong format version', () => decodePacked({ ...clone(), formatVersion: 2 }, bin), /Unsupported packed model version 2: this loader reads version 1/],
    ['wrong manifest version', () => { const j = clone(); j.quantization.version = 7; decodePacked(j, bin); }, /Unsupported quantization manifest version 7/],
    ['wrong encoding version', () => { const j = clone(); affine(j).encodingVersion = 3; decodePacked(j, bin); }, /Unsupported encoding version 3/],
    ['not our format', () => decodePacked({ ...clone(), format: 'layers-model' }, bin), /"format" is "layers-model"/],
    ['missing topology', () => { const j = clone() as Record<string, unknown>; delete j.modelTopology; decodePacked(j, bin); }, /"modelTopology" is missing/],
    ['missing codes', () => { const j = clone(); delete (affine(j) as Partial<AffineEntry>).codes; decodePacked(j, bin); }, /codes is missing/],
    ['wrong codes length', () => { const j = clone(); affine(j).codes.byteLength -= 1; decodePacked(j, bin); }, /codes.byteLength is \d+ but \d+ bytes are expected/],
    ['bits out of range', () => { const j = clone(); affine(j).bits = 9; decodePacked(j, bin); }, /bits must be in 2..8/],
    ['shape mismatch', () => { const j = clone(); affine(j).rows += 1; decodePacked(j, bin); }, /does not match shape/],
    ['section past the end', () => { const j = clone(); affine(j).scale.offset = bin.length; decodePacked(j, bin); }, /beyond the end of the weights file/],
    ['unsafe weights file name', () => decodePacked({ ...clone(), weightsFile: '../etc/passwd' }, bin), /plain file name/],
    ['corrupted byte', () => { const b = bin.slice(); b[3] ^= 1; decodePacked(json, b); }, /checksum/],
    ['outlier index out of range', () => {
      const j = clone();
      const e = affine(j);
      const b = bin.slice();
      new DataView(b.buffer).setInt32(e.outliers!.indices.offset, e.rows * e.cols + 3, true);
      j.weightsChecksum = checksum(b);
      decodePacked(j, b);
    }, /outlier index \d+ of .* is out of range \[0, \d+\)/],
    ['NaN scale', () => {
      const j = clone();
      const b = bin.slice();
      new DataView(b.buffer).setFloat32(affine(j).scale.offset, NaN, true);
      j.weightsChecksum = checksum(b);
      decodePacked(j, b);
    }, /scale of .* non-finite/],
  ];
  for (const [label, run, message] of cases) {
    const err = t.throws(run, { instanceOf: InputError }, label);
    t.regex(err?.message ?? '', message, label);
  }
  // Through loadQuantized: a truncated file on disk, invalid JSON, a missing directory.
  const out = path.join(dir, 'bad');
  await saveQuantized(quantized, out);
  const wb = path.join(out, 'weights.bin');
  await writeFile(wb, (await readFile(wb)).subarray(0, 100));
  await t.throwsAsync(loadQuantized(out), { instanceOf: InputError, message: /truncated/ });
  await writeFile(path.join(out, 'model.json'), '{"format": ');
  await t.throwsAsync(loadQuantized(out), { instanceOf: InputError, message: /not valid JSON/ });
  await t.throwsAsync(loadQuantized(path.join(dir, 'missing')), { instanceOf: InputError, message: /Cannot read .*model.json/ });
  // A payload from another model is refused by the writer.
  const other = convDenseModel(5);
  await t.throwsAsync(saveQuantized({ ...quantized, model: other }, path.join(dir, 'mismatch')), { instanceOf: InputError, message: /does not match the payload's codes/ });
  other.dispose();
  t.is(tf.memory().numTensors, before);
  q.dispose();
  model.dispose();
});

test.serial('kernel constraints are not re-applied on load (weights stay on the grid); topology mismatches are rejected', async (t) => {
  const m = tfl.sequential({ layers: [
    tfl.layers.dense({ inputShape: [6], units: 4, kernelConstraint: tfl.constraints.maxNorm({ maxValue: 0.1 }), kernelInitializer: tfl.initializers.glorotNormal({ seed: 41 }), name: 'k' }),
  ] });
  const x = tf.randomNormal([30, 6], 0, 1, 'float32', 42);
  const before = tf.memory().numTensors;
  const quantized = await quantizeModel(m, x, { method: 'rtn', bits: 3 });
  const { model: q, report } = quantized;
  const out = path.join(dir, 'constrained');
  await saveQuantized(quantized, out);
  const loaded = await loadQuantized(out);
  t.deepEqual(weightValues(loaded), weightValues(q));
  loaded.dispose();
  // A topology whose layer is wider than the stored weights.
  const { json, bin } = await encodePacked(quantized);
  const j = JSON.parse(JSON.stringify(json).replace('"units":4', '"units":5'));
  await t.throwsAsync(async () => {
    const { artifacts } = decodePacked(j, bin);
    const { buildModel } = await import('../../../adapters/io/artifacts.ts');
    await buildModel(artifacts.modelTopology as object, artifacts.weightSpecs!, artifacts.weightData as ArrayBuffer);
  }, { instanceOf: InputError, message: /has shape \[6,4\] but the topology needs \[6,5\]/ });
  q.dispose();
  t.is(tf.memory().numTensors, before);
  x.dispose();
  m.dispose();
});
