/**
 * Fault suite of saving: a child process saving into a folder is killed with SIGKILL right before
 * each step of writeModelDirAtomic, and at seeded random moments of a save loop. After every kill
 * the folder must load as one complete model (the previous one before the commit rename, the new
 * one after it), leftovers must stay bounded, and the next save must leave exactly model.json and
 * one weights file. FUZZ_LONG=1 repeats the step kills and tries 10x more random kills.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { quantizeModel } from '../../adapters/quantize/quantize_model.ts';
import { encodePacked } from '../../adapters/io/encode.ts';
import { loadQuantized } from '../../adapters/io/load_quantized.ts';
import { writeModelDirAtomic } from '../../adapters/io/write_model_dir.ts';
import { HANG, LONG, Tally, fingerprint, mulberry32, smallModel, watchdog } from './helpers.ts';

const CHILD = fileURLToPath(new URL('./save_child.ts', import.meta.url));
const STEPS = ['lock', 'clean', 'weights', 'rename-weights', 'json', 'commit', 'relink', 'json2', 'commit2', 'cleanup', 'unlock'];
const AFTER_COMMIT = new Set(['relink', 'json2', 'commit2', 'cleanup', 'unlock']);
/** The fast mode kills at the steps where the folder's state changes; the long mode at all of them. */
const FAST_STEPS = ['weights', 'json', 'commit', 'relink', 'commit2', 'cleanup'];
/** model.json, its weights, an orphaned weights file, two temporaries, the lock and its temporary. */
const MAX_ENTRIES = 7;

let root: string;
const models: Array<{ json: object; bin: Uint8Array; print: string }> = [];
let filesEnv: string;

test.before(async () => {
  await tf.setBackend('cpu');
  root = await mkdtemp(path.join(tmpdir(), 'fuzz-kill-'));
  const pairs: Array<[string, string]> = [];
  for (const seed of [11, 12]) {
    const model = smallModel(seed);
    const x = tf.randomNormal([32, 8], 0, 1, 'float32', seed);
    const q = await quantizeModel(model, x, { method: 'rtn', bits: 4 });
    const { json, bin } = await encodePacked(q);
    models.push({ json, bin, print: fingerprint(q.model) });
    const j = path.join(root, `m${seed}.json`);
    const b = path.join(root, `m${seed}.bin`);
    await writeFile(j, JSON.stringify(json));
    await writeFile(b, bin);
    pairs.push([j, b]);
    tf.dispose(x);
    q.model.dispose();
    model.dispose();
  }
  filesEnv = JSON.stringify(pairs);
});

test.after.always(async () => {
  await rm(root, { recursive: true, force: true });
});

const save = (dir: string, m: (typeof models)[number]) =>
  writeModelDirAtomic(dir, { weights: m.bin, modelJson: (weightsFile) => JSON.stringify({ ...m.json, weightsFile }) });

/** Which model the folder loads: 0 (A), 1 (B), or an error message. */
async function loads(dir: string): Promise<number | string> {
  const before = tf.memory().numTensors;
  try {
    const m = await loadQuantized(dir);
    const p = fingerprint(m);
    m.dispose();
    if (tf.memory().numTensors !== before) return 'leaked tensors';
    const i = models.findIndex((x) => x.print === p);
    return i < 0 ? 'a model that is neither A nor B' : i;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Runs the child; for loop mode, kills it `delayMs` after it is ready. Resolves after it exited (and was reaped). */
function runChild(dir: string, mode: string, delayMs = 0): Promise<{ saves: number; signal: string | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import=tsx', CHILD], { env: { ...process.env, DIR: dir, MODE: mode, FILES: filesEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    let saves = 0;
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.stdout.on('data', (d: Buffer) => {
      for (const line of d.toString().split('\n')) {
        if (line === 'ready') setTimeout(() => child.kill('SIGKILL'), delayMs);
        else if (line === 'A' || line === 'B') saves++;
      }
    });
    child.on('error', reject);
    child.on('exit', (_code, signal) => (signal === 'SIGKILL' ? resolve({ saves, signal }) : reject(new Error(`child exited without SIGKILL: ${err}`))));
  });
}

test.serial('kill -9 right before each step of a save: the folder always loads, old before the commit, new after', async (t) => {
  const tally = new Tally();
  let maxEntries = 0;
  for (let round = 0; round < (LONG ? 3 : 1); round++) {
    // One child per step, all at once (each in its own folder): the cost is node start-up.
    const killed = await Promise.all((LONG ? STEPS : FAST_STEPS).map(async (step) => {
      const dir = path.join(root, `step-${round}-${step}`);
      await save(dir, models[0]);
      if (round > 0) await save(dir, models[1]), await save(dir, models[0]); // both weights names have been used
      return { step, dir, r: await watchdog(runChild(dir, `step:${step}`), 60_000) };
    }));
    for (const { step, dir, r } of killed) {
      if (r === HANG) {
        tally.add('hang', step);
        continue;
      }
      const entries = await readdir(dir);
      maxEntries = Math.max(maxEntries, entries.length);
      const got = await loads(dir);
      const want = AFTER_COMMIT.has(step) ? 1 : 0;
      if (typeof got === 'string') tally.add('lost', `killed before ${step}`, got);
      else tally.add(got === want ? 'clear' : 'silent', `killed before ${step}`, `loads model ${got}, expected ${want}`);
      await save(dir, models[0]);
      const clean = (await readdir(dir)).sort();
      t.is(clean.length, 2, `after a kill before ${step} and one more save: ${clean.join(', ')}`);
      t.is(await loads(dir), 0);
    }
  }
  t.log(`most folder entries seen right after a kill: ${maxEntries}`);
  t.true(maxEntries <= MAX_ENTRIES);
  tally.check(t, 'kill -9 at each save step');
});

test.serial('kill -9 at seeded random moments of a save loop: no data lost, no leftovers piling up', async (t) => {
  const tally = new Tally();
  const rand = mulberry32(303);
  const dir = path.join(root, 'loop');
  await save(dir, models[0]);
  let maxEntries = 0;
  let saves = 0;
  const rounds = LONG ? 60 : 3;
  for (let i = 0; i < rounds; i++) {
    const r = await watchdog(runChild(dir, 'loop', Math.floor(rand() * 400)), 60_000);
    if (r === HANG) {
      tally.add('hang', `round ${i}`);
      continue;
    }
    saves += r.saves;
    const entries = await readdir(dir);
    maxEntries = Math.max(maxEntries, entries.length);
    const got = await loads(dir);
    if (typeof got === 'string') tally.add('lost', `round ${i}`, got);
    else tally.add('clear', `round ${i}`);
  }
  await save(dir, models[1]);
  t.deepEqual((await readdir(dir)).length, 2);
  t.is(await loads(dir), 1);
  t.log(`${rounds} kills during ${saves} completed saves; most folder entries after a kill: ${maxEntries}`);
  t.true(maxEntries <= MAX_ENTRIES);
  tally.check(t, 'kill -9 at random moments');
});
