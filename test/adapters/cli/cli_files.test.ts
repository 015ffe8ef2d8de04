import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { main } from '../../../adapters/cli/cli.ts';
import { fileSystem } from '../../../adapters/io/file_system_handler.ts';
import { loadQuantized } from '../../../adapters/io/load_quantized.ts';

let root: string;
let input: string; // folder of the float model, saved with fileSystem()
let calib: string;

const model = () => tfl.sequential({ layers: [
  tfl.layers.dense({ inputShape: [8], units: 6, activation: 'relu', kernelInitializer: tfl.initializers.glorotNormal({ seed: 1 }) }),
  tfl.layers.dense({ units: 3, kernelInitializer: tfl.initializers.glorotNormal({ seed: 2 }) }),
] });

test.before(async () => {
  await tf.setBackend('cpu');
  root = await mkdtemp(path.join(tmpdir(), 'cli-files-'));
  input = path.join(root, 'float');
  const m = model();
  await m.save(fileSystem(input));
  m.dispose();
  calib = path.join(root, 'calib.json');
  const x = tf.randomNormal([16, 8], 0, 1, 'float32', 3);
  await writeFile(calib, JSON.stringify({ shape: x.shape, data: Array.from(x.dataSync()) }));
  x.dispose();
});
test.after.always(async () => {
  await rm(root, { recursive: true, force: true });
});

async function run(args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(['quantize', ...args, '--calibration', calib, '--backend', 'cpu', '--quiet', '--method', 'rtn'], { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) });
  return { code, stdout, stderr };
}
const digest = async (dir: string) => {
  const h = createHash('sha256');
  for (const f of (await readdir(dir)).sort()) h.update(f).update(await readFile(path.join(dir, f)));
  return h.digest('hex');
};

test.serial('a model saved with fileSystem() quantizes through the CLI and loads', async (t) => {
  const out = path.join(root, 'q');
  const r = await run([path.join(input, 'model.json'), '--out', out]);
  t.is(r.code, 0, r.stderr);
  const q = await loadQuantized(out);
  t.deepEqual(q.outputs[0].shape, [null, 3]);
  q.dispose();
});

test.serial('--out that is the input folder, or holds the input shards, is refused with one line and exit 1', async (t) => {
  const before = await digest(input);
  await mkdir(path.join(root, 'links'));
  await symlink(input, path.join(root, 'links', 'same'));
  const parent = path.join(root, 'parent');
  await mkdir(path.join(parent, 'shards'), { recursive: true });
  const json = JSON.parse(await readFile(path.join(input, 'model.json'), 'utf8'));
  json.weightsManifest[0].paths = ['shards/weights.bin'];
  await writeFile(path.join(parent, 'model.json'), JSON.stringify(json));
  await writeFile(path.join(parent, 'shards', 'weights.bin'), await readFile(path.join(input, 'weights.bin')));
  for (const [model, out, why] of [
    [path.join(input, 'model.json'), input, /is the input model's folder/],
    [path.join(input, 'model.json'), input + '/', /is the input model's folder/],
    [path.join(input, 'model.json'), path.join(input, '..', 'float'), /is the input model's folder/],
    [path.join(input, 'model.json'), path.join(root, 'links', 'same'), /is the input model's folder/],
    [path.join(root, 'links', 'same', 'model.json'), input, /is the input model's folder/],
    [path.join(parent, 'model.json'), path.join(parent, 'shards'), /holds the input's weight shard shards\/weights\.bin/],
  ] as const) {
    const r = await run([model, '--out', out]);
    t.is(r.code, 1, `${model} -> ${out}`);
    t.regex(r.stderr, why);
    t.is(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
  }
  t.is(await digest(input), before, 'the input folder is unchanged');
});

test.serial('shard paths that leave the model folder, or point at /dev/zero, are refused', async (t) => {
  const json = JSON.parse(await readFile(path.join(input, 'model.json'), 'utf8'));
  for (const [label, shard, link, why] of [
    ['../../../dev/zero', '../../../dev/zero', null, /climbs out of the folder/],
    ['../etc/passwd', '../etc/passwd', null, /climbs out of the folder/],
    ['/etc/passwd', '/etc/passwd', null, /is absolute/],
    ['symlink to /dev/zero', 'zero.bin', '/dev/zero', /character device, not a regular file/],
  ] as const) {
    const dir = path.join(root, 'hostile-' + label.replace(/\W+/g, '_') + label.length);
    await mkdir(dir);
    await writeFile(path.join(dir, 'model.json'), JSON.stringify({ ...json, weightsManifest: [{ ...json.weightsManifest[0], paths: [shard] }] }));
    if (link) await symlink(link, path.join(dir, shard));
    const r = await run([path.join(dir, 'model.json'), '--out', path.join(root, 'never')]);
    t.is(r.code, 1, label);
    t.regex(r.stderr, why, label);
    t.is(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
  }
  await t.throwsAsync(readdir(path.join(root, 'never')), { code: 'ENOENT' });
});
