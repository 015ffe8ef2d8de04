import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { fileSystem, registerFileSystemRouter } from '../../../adapters/io/file_system_handler.ts';
import { InputError, OptionError } from '../../../plugins/core/errors.ts';

let root: string;
let x: tf.Tensor;

test.before(async () => {
  await tf.setBackend('cpu');
  root = await mkdtemp(path.join(tmpdir(), 'fsh-'));
  x = tf.randomNormal([5, 6], 0, 1, 'float32', 9);
});
test.after.always(async () => {
  x.dispose();
  await rm(root, { recursive: true, force: true });
});

/** Conv + BatchNorm + Dense, compiled (so trainingConfig is saved too), seeded. */
function model(seed: number): tfl.LayersModel {
  const m = tfl.sequential({ layers: [
    tfl.layers.reshape({ inputShape: [6], targetShape: [6, 1] }),
    tfl.layers.conv1d({ filters: 4, kernelSize: 3, activation: 'relu', kernelInitializer: tfl.initializers.glorotNormal({ seed }) }),
    tfl.layers.batchNormalization({ movingMeanInitializer: tfl.initializers.randomNormal({ seed: seed + 1 }) }),
    tfl.layers.flatten(),
    tfl.layers.dense({ units: 3, kernelInitializer: tfl.initializers.glorotNormal({ seed: seed + 2 }) }),
  ] });
  m.compile({ optimizer: 'sgd', loss: 'meanSquaredError' });
  return m;
}
const predict = (m: tfl.LayersModel) => tf.tidy(() => Array.from((m.predict(x) as tf.Tensor).dataSync()));

test.serial('model.save(fileSystem(dir)) then tf.loadLayersModel(fileSystem(dir/model.json)): identical predictions, no leak', async (t) => {
  const m = model(1);
  const dir = path.join(root, 'rt');
  const result = await m.save(fileSystem(dir), { includeOptimizer: true });
  t.is(result.modelArtifactsInfo.modelTopologyType, 'JSON');
  t.deepEqual((await readdir(dir)).sort(), ['model.json', 'weights.bin']);
  const json = JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8'));
  t.deepEqual(json.weightsManifest[0].paths, ['weights.bin']);
  t.is(json.format, 'layers-model');
  t.truthy(json.trainingConfig);
  const loaded = await tfl.loadLayersModel(fileSystem(path.join(dir, 'model.json')));
  t.deepEqual(predict(loaded), predict(m));
  t.truthy(loaded.optimizer, 'compiled from the saved trainingConfig');
  loaded.dispose(); // (tfjs itself keeps one tensor of a loaded optimizer: no leak check around this load)
  // Without the optimizer: from the folder, and a second save over it (atomic: the other weights name).
  const m2 = model(2);
  const before = tf.memory().numTensors;
  await m.save(fileSystem(dir));
  const again = await tfl.loadLayersModel(fileSystem(dir));
  t.deepEqual(predict(again), predict(m));
  again.dispose();
  await m2.save(fileSystem(dir));
  t.deepEqual((await readdir(dir)).length, 2);
  const loaded2 = await tfl.loadLayersModel(fileSystem(dir));
  t.deepEqual(predict(loaded2), predict(m2));
  t.notDeepEqual(predict(loaded2), predict(m));
  loaded2.dispose();
  t.is(tf.memory().numTensors, before);
  m.dispose();
  m2.dispose();
});

test.serial('file:// URLs work only after registerFileSystemRouter()', async (t) => {
  const m = model(3);
  const dir = path.join(root, 'url');
  await t.throwsAsync(m.save(pathToFileURL(dir).href), { message: /Cannot find any save handlers/ });
  t.true(registerFileSystemRouter());
  t.true(registerFileSystemRouter()); // idempotent
  await m.save(pathToFileURL(dir).href);
  const loaded = await tfl.loadLayersModel(pathToFileURL(path.join(dir, 'model.json')).href);
  t.deepEqual(predict(loaded), predict(m));
  // tfjs-node style relative form: file://relative/dir
  const rel = path.relative(process.cwd(), path.join(root, 'url-rel'));
  await m.save(`file://${rel}`);
  const loaded2 = await tfl.loadLayersModel(`file://${rel}/model.json`);
  t.deepEqual(predict(loaded2), predict(m));
  loaded.dispose();
  loaded2.dispose();
  m.dispose();
});

test.serial('bad, truncated and hostile files: clear InputErrors before any tensor exists', async (t) => {
  const m = model(4);
  const good = path.join(root, 'good');
  await m.save(fileSystem(good));
  m.dispose();
  const json = JSON.parse(await readFile(path.join(good, 'model.json'), 'utf8'));
  const bin = await readFile(path.join(good, 'weights.bin'));
  const cases: Array<[string, (dir: string) => Promise<void>, RegExp]> = [
    ['missing model.json', async () => {}, /no such file/],
    ['not JSON', (d) => writeFile(path.join(d, 'model.json'), '{"modelTopology": '), /not valid JSON/],
    ['no weightsManifest', (d) => writeFile(path.join(d, 'model.json'), JSON.stringify({ modelTopology: json.modelTopology })), /"weightsManifest" is missing.*random weights/],
    ['packed model', (d) => writeFile(path.join(d, 'model.json'), JSON.stringify({ format: 'tfjs-sam-quantease/packed', modelTopology: {} })), /loadQuantized/],
    ['truncated shard', async (d) => { await writeFile(path.join(d, 'model.json'), JSON.stringify(json)); await writeFile(path.join(d, 'weights.bin'), bin.subarray(0, bin.length - 4)); }, /hold \d+ bytes but its weights need \d+/],
    ['padded shard', async (d) => { await writeFile(path.join(d, 'model.json'), JSON.stringify(json)); await writeFile(path.join(d, 'weights.bin'), Buffer.concat([bin, Buffer.alloc(8)])); }, /more than the limit/],
    ['shard path ../../etc/passwd', (d) => writeFile(path.join(d, 'model.json'), JSON.stringify({ ...json, weightsManifest: [{ ...json.weightsManifest[0], paths: ['../../etc/passwd'] }] })), /climbs out of the folder/],
    ['shard path /dev/zero', (d) => writeFile(path.join(d, 'model.json'), JSON.stringify({ ...json, weightsManifest: [{ ...json.weightsManifest[0], paths: ['/dev/zero'] }] })), /is absolute/],
    ['shard symlink to /dev/zero', async (d) => { await writeFile(path.join(d, 'model.json'), JSON.stringify(json)); await symlink('/dev/zero', path.join(d, 'weights.bin')); }, /character device, not a regular file/],
    ['shard FIFO', async (d) => { await writeFile(path.join(d, 'model.json'), JSON.stringify(json)); execFileSync('mkfifo', [path.join(d, 'weights.bin')]); }, /FIFO/],
    ['model.json FIFO', async (d) => void execFileSync('mkfifo', [path.join(d, 'model.json')]), /FIFO/],
    ['model.json directory', (d) => mkdir(path.join(d, 'model.json')), /directory, not a regular file/],
    ['bad shape', (d) => writeFile(path.join(d, 'model.json'), JSON.stringify({ ...json, weightsManifest: [{ ...json.weightsManifest[0], weights: [{ name: 'w', shape: [-1], dtype: 'float32' }] }] })), /shape \[-1\]/],
    ['bad dtype', (d) => writeFile(path.join(d, 'model.json'), JSON.stringify({ ...json, weightsManifest: [{ ...json.weightsManifest[0], weights: [{ name: 'w', shape: [1], dtype: 'float64' }] }] })), /dtype "float64"/],
  ];
  for (const [label, make, message] of cases) {
    const dir = path.join(root, 'bad-' + label.replace(/\W+/g, '_'));
    await mkdir(dir);
    await make(dir);
    const before = tf.memory().numTensors;
    await t.throwsAsync(tfl.loadLayersModel(fileSystem(path.join(dir, 'model.json'))), { instanceOf: InputError, message }, label);
    t.is(tf.memory().numTensors, before, label);
  }
  t.throws(() => fileSystem(''), { instanceOf: OptionError });
  t.throws(() => fileSystem('x', { overwite: true } as never), { instanceOf: OptionError, message: /Unknown option `overwite`/ });
  // Saving into a folder holding something else: refused unless overwrite.
  const other = path.join(root, 'other');
  await mkdir(other);
  await writeFile(path.join(other, 'notes.txt'), 'keep');
  const m2 = model(5);
  await t.throwsAsync(m2.save(fileSystem(other)), { instanceOf: InputError, message: /notes\.txt/ });
  await m2.save(fileSystem(other, { overwrite: true }));
  t.is(await readFile(path.join(other, 'notes.txt'), 'utf8'), 'keep');
  m2.dispose();
});
