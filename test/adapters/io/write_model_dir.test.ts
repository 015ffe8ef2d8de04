import test from 'ava';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { LOCK_FILE, writeModelDirAtomic } from '../../../adapters/io/write_model_dir.ts';
import { InputError, OptionError } from '../../../plugins/core/errors.ts';

let root: string;
test.before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'wmd-'));
});
test.after.always(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A packed-looking model.json pointing at the chosen weights file. */
const files = (fill: number, n = 16) => ({
  weights: new Uint8Array(n).fill(fill),
  modelJson: (weightsFile: string) => JSON.stringify({ format: 'tfjs-sam-quantease/packed', weightsFile, fill }),
});
const ls = async (dir: string) => (await readdir(dir)).sort();
/** The model the folder holds: model.json's "fill" and the bytes of the weights it points to. */
async function current(dir: string): Promise<{ fill: number; weights: number[] }> {
  const json = JSON.parse(await readFile(path.join(dir, 'model.json'), 'utf8'));
  return { fill: json.fill, weights: [...new Set(await readFile(path.join(dir, json.weightsFile)))] };
}
/** The pid of a process that has exited (so its temporaries and lock are stale). */
const deadPid = () => spawnSync(process.execPath, ['-e', '0']).pid!;

test('a new folder gets model.json + weights.bin, and so does every later save (staged name, then a second commit)', async (t) => {
  const dir = path.join(root, 'a', 'nested');
  const steps: string[] = [];
  const first = await writeModelDirAtomic(dir, files(1), { onStep: (s) => void steps.push(s) });
  t.deepEqual(steps, ['lock', 'clean', 'weights', 'rename-weights', 'json', 'commit', 'cleanup', 'unlock']);
  t.deepEqual(await ls(dir), ['model.json', 'weights.bin']);
  t.is(first.weights, path.join(dir, 'weights.bin'));
  t.is(first.weightsBytes, 16);
  steps.length = 0;
  const second = await writeModelDirAtomic(dir, files(2), { onStep: (s) => void steps.push(s) });
  t.deepEqual(steps, ['lock', 'clean', 'weights', 'rename-weights', 'json', 'commit', 'relink', 'json2', 'commit2', 'cleanup', 'unlock']);
  t.is(second.weights, path.join(dir, 'weights.bin'));
  t.deepEqual(await ls(dir), ['model.json', 'weights.bin']);
  t.deepEqual(await current(dir), { fill: 2, weights: [2] });
  await writeModelDirAtomic(dir, files(3));
  t.deepEqual(await ls(dir), ['model.json', 'weights.bin']);
  t.deepEqual(await current(dir), { fill: 3, weights: [3] });
});

test('killed between the two commits: the staged name is a complete model, and the next save tidies up', async (t) => {
  const dir = path.join(root, 'between');
  await writeModelDirAtomic(dir, files(1));
  await t.throwsAsync(writeModelDirAtomic(dir, files(2), { onStep: (s) => { if (s === 'json2') throw new Error('stop'); } }));
  const names = await ls(dir);
  t.is(names.length, 2);
  t.regex(names[1], /^weights\.[0-9a-f]{16}\.bin$/);
  t.deepEqual(await current(dir), { fill: 2, weights: [2] });
  await writeModelDirAtomic(dir, files(3));
  t.deepEqual(await ls(dir), ['model.json', 'weights.bin']);
  t.deepEqual(await current(dir), { fill: 3, weights: [3] });
});

test('model.json that is a directory: refused before anything is written', async (t) => {
  const dir = path.join(root, 'jsondir');
  await writeModelDirAtomic(dir, files(1));
  await rm(path.join(dir, 'model.json'));
  await mkdir(path.join(dir, 'model.json'));
  const before = await ls(dir);
  const weightsBefore = await readFile(path.join(dir, 'weights.bin'));
  await t.throwsAsync(writeModelDirAtomic(dir, files(2)), { instanceOf: InputError, message: /model\.json is a directory.*Nothing was written/ });
  t.deepEqual(await ls(dir), before);
  t.deepEqual(await readFile(path.join(dir, 'weights.bin')), weightsBefore);
});

test('a folder with other files is refused unless overwrite: true, and other files are never deleted', async (t) => {
  const dir = path.join(root, 'foreign');
  await mkdir(dir);
  await writeFile(path.join(dir, 'thesis.pdf'), 'mine');
  await t.throwsAsync(writeModelDirAtomic(dir, files(1)), { instanceOf: InputError, message: /not part of a saved model \(thesis\.pdf\).*overwrite: true/ });
  t.deepEqual(await ls(dir), ['thesis.pdf']);
  await writeModelDirAtomic(dir, files(1), { overwrite: true });
  await writeModelDirAtomic(dir, files(2), { overwrite: true });
  t.is(await readFile(path.join(dir, 'thesis.pdf'), 'utf8'), 'mine');
  t.is((await ls(dir)).length, 3);
  // A model.json that is not a model, and weights.bin without any model.json, are not ours either.
  for (const [name, content] of [['model.json', '{"hello": 1}'], ['weights.bin', 'x']] as const) {
    const d = path.join(root, 'foreign-' + name);
    await mkdir(d);
    await writeFile(path.join(d, name), content);
    await t.throwsAsync(writeModelDirAtomic(d, files(1)), { instanceOf: InputError, message: new RegExp(`not part of a saved model \\(${name.replace('.', '\\.')}\\)`) });
    t.is(await readFile(path.join(d, name), 'utf8'), content);
  }
});

test('a tfjs model folder (model.json + shards) is a model: replaced, and its shards removed', async (t) => {
  const dir = path.join(root, 'tfjs');
  await mkdir(dir);
  await writeFile(path.join(dir, 'model.json'), JSON.stringify({ modelTopology: {}, weightsManifest: [{ paths: ['group1-shard1of2.bin', 'group1-shard2of2.bin'], weights: [] }] }));
  await writeFile(path.join(dir, 'group1-shard1of2.bin'), 'a');
  await writeFile(path.join(dir, 'group1-shard2of2.bin'), 'b');
  await writeModelDirAtomic(dir, files(4));
  t.deepEqual(await ls(dir), ['model.json', 'weights.bin']);
});

test('the folder is a file, or the options are wrong: clear errors', async (t) => {
  const file = path.join(root, 'plain-file');
  await writeFile(file, 'x');
  await t.throwsAsync(writeModelDirAtomic(file, files(1)), { instanceOf: InputError, message: /exists and is not a folder/ });
  await t.throwsAsync(writeModelDirAtomic(path.join(root, 'o1'), files(1), { overwrite: 'yes' as never }), { instanceOf: OptionError, message: /overwrite=/ });
  await t.throwsAsync(writeModelDirAtomic(path.join(root, 'o2'), files(1), { force: true } as never), { instanceOf: OptionError, message: /Unknown option `force`/ });
  await t.throwsAsync(writeModelDirAtomic('', files(1)), { instanceOf: OptionError });
  await t.throwsAsync(writeModelDirAtomic(path.join(root, 'o3'), { weights: [1, 2] } as never), { instanceOf: OptionError });
});

test('stale temporaries and a stale lock of a killed save are cleaned; a live lock is respected', async (t) => {
  const dir = path.join(root, 'stale');
  await writeModelDirAtomic(dir, files(1));
  const dead = deadPid();
  const leftovers = [`.model.json.tmp-${dead}-abcdef`, `.weights.bin.tmp-${dead}-012345`, `weights.${'a'.repeat(16)}.bin`];
  for (const f of leftovers) await writeFile(path.join(dir, f), 'junk');
  await writeFile(path.join(dir, LOCK_FILE), String(dead));
  // A temporary of a live process (this one) that is recent is left alone; an hour-old one is not.
  const live = `.weights.bin.tmp-${process.pid}-aaaaaa`;
  const oldLive = `.weights.bin.tmp-${process.pid}-bbbbbb`;
  await writeFile(path.join(dir, live), 'in flight');
  await writeFile(path.join(dir, oldLive), 'old');
  const hourAgo = new Date(Date.now() - 2 * 3600_000);
  await utimes(path.join(dir, oldLive), hourAgo, hourAgo);
  const saved = await writeModelDirAtomic(dir, files(2));
  t.deepEqual(await ls(dir), [live, 'model.json', path.basename(saved.weights)].sort());
  t.deepEqual(await current(dir), { fill: 2, weights: [2] });
  await rm(path.join(dir, live));
  // A lock held by a live process: refused, nothing changed.
  await writeFile(path.join(dir, LOCK_FILE), String(process.ppid));
  await t.throwsAsync(writeModelDirAtomic(dir, files(3)), { instanceOf: InputError, message: /another save is in progress/ });
  t.deepEqual(await current(dir), { fill: 2, weights: [2] });
  await rm(path.join(dir, LOCK_FILE));
});

test('a failed save (an error in any step) leaves the previous model and no temporaries', async (t) => {
  const dir = path.join(root, 'fail');
  await writeModelDirAtomic(dir, files(1));
  for (const step of ['clean', 'weights', 'rename-weights', 'json', 'commit']) {
    await t.throwsAsync(writeModelDirAtomic(dir, files(2), { onStep: (s) => { if (s === step) throw new Error(`disk full at ${s}`); } }), { message: new RegExp(`disk full at ${step}`) });
    t.deepEqual(await ls(dir), ['model.json', 'weights.bin'], step);
    t.deepEqual(await current(dir), { fill: 1, weights: [1] }, step);
  }
});

test('a symlink to a folder is saved through', async (t) => {
  const real = path.join(root, 'real');
  await writeModelDirAtomic(real, files(1));
  const link = path.join(root, 'link');
  await symlink(real, link);
  await writeModelDirAtomic(link, files(2));
  t.deepEqual(await current(real), { fill: 2, weights: [2] });
  t.true((await stat(link)).isDirectory());
});
