/**
 * The packed format, version 2 (adapters/io/format.ts): stock tfjs loaders refuse it loudly, the
 * manifest is validated in full and covered by a checksum, sections tile the weights file,
 * unknown keys are errors at every level, every decoded weight is finite, version 1 is refused
 * with the way to convert it.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { quantizeModel } from '../../../adapters/quantize/quantize_model.ts';
import { encodePacked } from '../../../adapters/io/encode.ts';
import { decodePacked } from '../../../adapters/io/decode.ts';
import { upgradePackedJSON, validatePackedJSON } from '../../../adapters/io/validate_packed.ts';
import { loadQuantized } from '../../../adapters/io/load_quantized.ts';
import { checksum, manifestChecksum, type AffineEntry, type PackedModelJSON, type RawEntry } from '../../../adapters/io/format.ts';
import { InputError } from '../../../plugins/core/errors.ts';
import { convDenseModel, correlatedImages, weightValues } from '../quantize/models.ts';

let json: PackedModelJSON;
let bin: Uint8Array;
let reference: Float32Array[];
let server: Server;
let base: string;

const clone = () => JSON.parse(JSON.stringify(json)) as PackedModelJSON;
const reseal = (j: PackedModelJSON) => ((j.manifestChecksum = manifestChecksum(j)), j);
const affine = (j: PackedModelJSON) => j.quantization.weights.find((e): e is AffineEntry => e.encoding === 'affine' && !!e.outliers)!;
const raw = (j: PackedModelJSON) => j.quantization.weights.find((e): e is RawEntry => e.encoding === 'float32')!;
const STOCK_MESSAGE = /Unknown layer: TfjsSamQuanteasePackedModel\. This model\.json is a packed \(quantized\) model of tfjs-sam-quantease; tf\.loadLayersModel cannot read it directly\. Load it with tf\.loadLayersModel\(packedModel\(url\)\) or loadQuantized\(url\)/;

test.before(async () => {
  await tf.setBackend('cpu');
  const model = convDenseModel(11);
  const calib = correlatedImages(64, 3);
  const q = await quantizeModel(model, calib, { method: 'quantease', bits: 3, sweeps: 3, outliers: { fraction: 0.02 } });
  ({ json, bin } = await encodePacked(q));
  reference = weightValues(q.model);
  q.model.dispose();
  model.dispose();
  calib.dispose();
  // A static file server for the stock http loader.
  server = createServer((req, res) => {
    const file = new URL(req.url!, 'http://x').pathname.split('/').pop();
    if (file === 'model.json') res.end(JSON.stringify(json));
    else if (file === 'weights.bin') res.end(Buffer.from(bin));
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/q`;
});

test.after.always(() => new Promise<void>((r) => server.close(() => r())));

test.serial('stock tf.loadLayersModel refuses a packed model.json on every path, naming this package and packedModel()', async (t) => {
  const before = tf.memory().numTensors;
  const variables = Object.keys(tf.engine().state.registeredVariables).length;
  // http(s) through tfjs's own handler (platform fetch), the streaming variant, and fromMemory.
  await t.throwsAsync(tfl.loadLayersModel(`${base}/model.json`), { message: STOCK_MESSAGE }, 'http');
  await t.throwsAsync(tfl.loadLayersModel(`${base}/model.json`, { streamWeights: true }), { message: STOCK_MESSAGE }, 'http, streamed weights');
  await t.throwsAsync(tfl.loadLayersModel(tf.io.http(`${base}/model.json`)), { message: STOCK_MESSAGE }, 'tf.io.http');
  await t.throwsAsync(tfl.loadLayersModel(tf.io.fromMemory(clone() as unknown as tf.io.ModelArtifacts)), { message: STOCK_MESSAGE }, 'tf.io.fromMemory');
  // tfjs-node's file:// handler (not installable here) builds {modelTopology: json.modelTopology}
  // and loads weights only when weightsManifest lists some: the same artifacts as this.
  const j = clone();
  await t.throwsAsync(tfl.loadLayersModel(tf.io.fromMemory({ modelTopology: j.modelTopology, format: j.format, weightSpecs: [], weightData: new ArrayBuffer(0) })), { message: STOCK_MESSAGE }, 'file:// as tfjs-node reads it');
  t.is(tf.memory().numTensors, before, 'nothing built');
  t.is(Object.keys(tf.engine().state.registeredVariables).length, variables, 'no variable created');
  // Our loader reads the same URL.
  const m = await loadQuantized(`${base}/model.json`, { fetch: globalThis.fetch });
  t.deepEqual(weightValues(m), reference);
  m.dispose();
});

test('unknown keys are rejected at every level (a misspelled "outliers" never drops outliers)', (t) => {
  const cases: Array<[string, (j: PackedModelJSON & Record<string, unknown>) => void, RegExp]> = [
    ['top level', (j) => { j.weightFile = 'x'; }, /model\.json has an unknown key "weightFile"/],
    ['quantization', (j) => { (j.quantization as Record<string, unknown>).extra = 1; }, /"quantization" has an unknown key "extra"/],
    ['entry: misspelled outliers', (j) => {
      const e = affine(j) as unknown as Record<string, unknown>;
      e.outlier = e.outliers;
      delete e.outliers;
    }, /quantization\.weights\[\d+\] has an unknown key "outlier"/],
    ['raw entry', (j) => { (raw(j) as unknown as Record<string, unknown>).scale = 1; }, /has an unknown key "scale"/],
    ['outliers', (j) => { (affine(j).outliers as Record<string, unknown>).counts = 1; }, /outliers has an unknown key "counts"/],
    ['section', (j) => { (affine(j).codes as unknown as Record<string, unknown>).length = 1; }, /codes has an unknown key "length"/],
    ['trap edited', (j) => { (j.modelTopology as { class_name: string }).class_name = 'Sequential'; }, /"modelTopology" must be the stock-loader trap/],
    ['weights manifest added', (j) => { (j as { weightsManifest: unknown[] }).weightsManifest = [{ paths: ['weights.bin'], weights: [] }]; }, /"weightsManifest" must be \[\]/],
  ];
  for (const [label, edit, message] of cases) {
    const j = clone() as PackedModelJSON & Record<string, unknown>;
    edit(j);
    t.throws(() => validatePackedJSON(reseal(j)), { instanceOf: InputError, message }, label);
  }
});

test('sections must tile the weights file: no overlap, no gap, nothing left over', (t) => {
  const cases: Array<[string, (j: PackedModelJSON) => void, RegExp]> = [
    ['overlap', (j) => { affine(j).zero.offset = affine(j).scale.offset; }, /zero starts at byte \d+ but the previous section ends at \d+/],
    ['gap and overlap by one byte', (j) => { raw(j).data.offset += 1; }, /starts at byte \d+ but the previous section ends at \d+/],
    ['bytes belonging to no weight', (j) => { j.weightsByteLength += 8; }, /8 bytes belong to no weight/],
    ['zero outliers declared', (j) => { affine(j).outliers!.count = 0; }, /outliers\.count must be an integer >= 1/],
  ];
  for (const [label, edit, message] of cases) {
    const j = clone();
    edit(j);
    t.throws(() => validatePackedJSON(reseal(j)), { instanceOf: InputError, message }, label);
  }
});

test('the manifest checksum catches an edited model.json: activation, offset, shape, topology', (t) => {
  const edits: Array<[string, (s: string) => string]> = [
    ['activation changed', (s) => s.replace('"activation":"relu"', '"activation":"elu"')],
    ['an offset moved', (s) => { const j = JSON.parse(s) as PackedModelJSON; const e = affine(j); [e.scale.offset, e.zero.offset] = [e.zero.offset, e.scale.offset]; return JSON.stringify(j); }],
    ['strides changed', (s) => s.replace('"strides":[2,2]', '"strides":[1,1]')],
    ['the weights checksum replaced', (s) => s.replace(/"weightsChecksum":"fnv1a32:[0-9a-f]{8}"/, '"weightsChecksum":"fnv1a32:00000000"')],
  ];
  const text = JSON.stringify(json);
  for (const [label, edit] of edits) {
    const edited = edit(text);
    t.not(edited, text, `${label}: the edit applies`);
    // A moved offset already breaks the tiling; everything else reaches the checksum.
    const message = label === 'an offset moved' ? /sections must follow one another/ : /model\.json checksum fnv1a32:[0-9a-f]{8} does not match its "manifestChecksum"/;
    t.throws(() => decodePacked(JSON.parse(edited), bin), { instanceOf: InputError, message }, label);
  }
  // Whitespace is not an edit; the report is not covered.
  const pretty = JSON.parse(JSON.stringify(json, null, 2)) as PackedModelJSON;
  pretty.report = { note: 'changed' };
  t.notThrows(() => decodePacked(pretty, bin));
});

test('every decoded weight is finite: NaN/Inf float32 data and huge scales that overflow are refused', (t) => {
  const withBytes = (edit: (j: PackedModelJSON, view: DataView) => void) => {
    const j = clone();
    const b = bin.slice();
    edit(j, new DataView(b.buffer));
    j.weightsChecksum = checksum(b);
    return () => decodePacked(reseal(j), b);
  };
  const cases: Array<[string, () => unknown, RegExp]> = [
    ['NaN bias', withBytes((j, v) => v.setFloat32(raw(j).data.offset, NaN, true)), /weight .* decodes to NaN at flat index 0; every weight must be finite/],
    ['Infinity bias', withBytes((j, v) => v.setFloat32(raw(j).data.offset + 4, Infinity, true)), /decodes to Infinity at flat index 1/],
    ['scale 3e38 (finite) overflows', withBytes((j, v) => {
      const e = affine(j);
      for (let r = 0; r < e.rows * e.groups; r++) {
        v.setFloat32(e.scale.offset + 4 * r, 3e38, true);
        v.setFloat32(e.zero.offset + 4 * r, -1, true); // (q - zero) >= 1, so every product overflows
      }
    }), /decodes to (-)?Infinity/],
    ['NaN outlier value', withBytes((j, v) => v.setFloat32(affine(j).outliers!.values.offset, NaN, true)), /outlier values of .* non-finite/],
  ];
  for (const [label, run, message] of cases) t.throws(run, { instanceOf: InputError, message }, label);
});

test('version 1 is refused with the conversion; upgradePackedJSON converts it and the same weights load', async (t) => {
  const j = clone();
  const v1: Record<string, unknown> = {
    format: j.format, formatVersion: 1, modelTopology: j.packedTopology, weightsFile: j.weightsFile,
    weightsByteLength: j.weightsByteLength, weightsChecksum: j.weightsChecksum, quantization: j.quantization,
  };
  t.throws(() => validatePackedJSON(v1), { instanceOf: InputError, message: /version-1 packed model, which stock tf\.loadLayersModel opens silently with random weights.*upgradePackedJSON/ });
  const v2 = upgradePackedJSON(v1);
  t.is(v2.formatVersion, 2);
  t.is(v2.manifestChecksum, json.manifestChecksum);
  const served = (async (url: string) => new Response(url.endsWith('model.json') ? JSON.stringify(v2) : bin.slice())) as unknown as typeof fetch;
  const m = await loadQuantized('https://example.test/v1/', { fetch: served });
  t.deepEqual(weightValues(m), reference);
  m.dispose();
  // A damaged version-1 file is refused by the converter too.
  t.throws(() => upgradePackedJSON({ ...v1, quantizaton: {} }), { instanceOf: InputError, message: /unknown key "quantizaton"/ });
});

test('300 seeded byte flips in model.json: each is refused or decodes to the very same model', (t) => {
  // Without the report (its timings vary from run to run), so the flipped bytes are the same every run.
  const { report: _report, ...stable } = json;
  void _report;
  const text = new TextEncoder().encode(JSON.stringify(stable));
  const same = decodePacked(stable, bin).artifacts;
  const expected = JSON.stringify([same.modelTopology, same.weightSpecs]);
  const expectedData = new Uint8Array(same.weightData as ArrayBuffer);
  let seed = 12345;
  const next = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32); // LCG, seeded
  const counts = { refused: 0, unchanged: 0, different: 0 };
  for (let i = 0; i < 300; i++) {
    const flipped = text.slice();
    flipped[Math.floor(next() * flipped.length)] ^= 1 << Math.floor(next() * 8);
    let decoded;
    try {
      decoded = decodePacked(JSON.parse(new TextDecoder().decode(flipped)), bin).artifacts;
    } catch (err) {
      if (!(err instanceof InputError) && !(err instanceof SyntaxError)) throw err; // SyntaxError: the loader reports it as InputError
      counts.refused++;
      continue;
    }
    const sameModel = JSON.stringify([decoded.modelTopology, decoded.weightSpecs]) === expected &&
      Buffer.compare(Buffer.from(decoded.weightData as ArrayBuffer), Buffer.from(expectedData)) === 0;
    counts[sameModel ? 'unchanged' : 'different']++;
  }
  t.log(counts);
  t.is(counts.different, 0);
  t.true(counts.refused >= 290, 'almost every flip is refused'); // 300 of 300 here; a flip could pass unchanged only where it decodes to the same JSON
});
