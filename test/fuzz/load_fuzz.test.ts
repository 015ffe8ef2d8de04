/**
 * Fuzz of the packed loader (loadQuantized) from files: seeded byte flips and truncations of
 * model.json and weights.bin, hostile JSON, and /dev/zero, FIFO, directory and symlink-loop
 * stand-ins. Every input must end in an InputError, or load exactly the original model; nothing
 * may crash, hang, leak tensors, load a different model, or change a file.
 * Fast by default (a few seconds); FUZZ_LONG=1 tries about 10x more inputs.
 */
import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { quantizeModel } from '../../adapters/quantize/quantize_model.ts';
import { saveQuantized } from '../../adapters/io/save_quantized.ts';
import { loadQuantized } from '../../adapters/io/load_quantized.ts';
import { FORMAT_VERSION } from '../../adapters/io/format.ts';
import { InputError } from '../../plugins/core/errors.ts';
import { HANG, LONG, Tally, fingerprint, mulberry32, smallModel, watchdog } from './helpers.ts';

const WATCHDOG_MS = 30_000;
let root: string;
let jsonText: string;
let bin: Uint8Array;
let weightsName: string;
let original: string;

test.before(async () => {
  await tf.setBackend('cpu');
  root = await mkdtemp(path.join(tmpdir(), 'fuzz-load-'));
  const model = smallModel(3);
  const x = tf.randomNormal([64, 8], 0, 1, 'float32', 4);
  const q = await quantizeModel(model, x, { method: 'quantease', bits: 3, sweeps: 3, groupSize: 4, outliers: { fraction: 0.05 } });
  const saved = await saveQuantized(q, path.join(root, 'orig'));
  // The report holds timings: without it the bytes, and so the seeded flips, are the same every run.
  const { report: _timings, ...json } = JSON.parse(await readFile(saved.modelJson, 'utf8'));
  jsonText = JSON.stringify(json);
  bin = new Uint8Array(await readFile(saved.weights));
  weightsName = path.basename(saved.weights);
  original = fingerprint(q.model);
  q.model.dispose();
  model.dispose();
  x.dispose();
});

test.after.always(async () => {
  await rm(root, { recursive: true, force: true });
});

const sha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

/** Loads `dir` under a watchdog and classifies the outcome into `tally`. */
async function attempt(tally: Tally, label: string, dir: string, files: string[]): Promise<void> {
  const hashes = await Promise.all(files.map((f) => readFile(f).then(sha, () => 'absent')));
  const before = tf.memory().numTensors;
  const r = await watchdog(loadQuantized(dir).then((m) => ({ m }), (e: unknown) => ({ e })), WATCHDOG_MS);
  if (r === HANG) return tally.add('hang', label);
  if ('e' in r) {
    const e = r.e as Error;
    if (tf.memory().numTensors !== before) tally.add('leak', label, `${tf.memory().numTensors - before} tensors`);
    else if (!(e instanceof InputError) || !e.message) tally.add('crash', label, `${e?.name}: ${e?.message}`);
    else tally.add('clear', label);
  } else {
    const same = fingerprint(r.m) === original;
    r.m.dispose();
    if (tf.memory().numTensors !== before) tally.add('leak', label);
    else tally.add(same ? 'same' : 'silent', label);
  }
  const after = await Promise.all(files.map((f) => readFile(f).then(sha, () => 'absent')));
  if (after.join() !== hashes.join()) tally.add('changed', label);
}

/** Writes a case folder with the given model.json text/bytes and weights bytes. */
async function caseDir(name: string, json: string | Uint8Array, weights: Uint8Array | null): Promise<{ dir: string; files: string[] }> {
  const dir = path.join(root, name);
  await mkdir(dir, { recursive: true });
  const files = [path.join(dir, 'model.json'), path.join(dir, weightsName)];
  await writeFile(files[0], json);
  if (weights) await writeFile(files[1], weights);
  return { dir, files };
}

const protectsTopology = FORMAT_VERSION >= 2;

test.serial('byte flips and truncations of model.json', async (t) => {
  const tally = new Tally();
  const rand = mulberry32(101);
  const bytes = new TextEncoder().encode(jsonText);
  const n = LONG ? 1500 : 120;
  for (let i = 0; i < n; i++) {
    const m = bytes.slice();
    const at = Math.floor(rand() * m.length);
    m[at] ^= 1 << Math.floor(rand() * 8);
    const { dir, files } = await caseDir('json-flip', m, bin);
    await attempt(tally, `flip bit at byte ${at}`, dir, files);
  }
  for (let i = 0; i < (LONG ? 300 : 30); i++) {
    const cut = i === 0 ? 0 : Math.floor(rand() * bytes.length);
    const { dir, files } = await caseDir('json-cut', bytes.slice(0, cut), bin);
    await attempt(tally, `model.json cut at ${cut}`, dir, files);
  }
  if (!protectsTopology) {
    // Known defects of format v1 that io-format's version 2 removes (issue 10 items 4 and 5).
    t.log(`format v${FORMAT_VERSION}: no checksum over the topology and a failed build leaks; silent results and leaks are counted, not asserted.`);
  }
  tally.check(t, 'model.json flips and truncations', !protectsTopology);
});

test.serial('byte flips, truncations and padding of weights.bin', async (t) => {
  const tally = new Tally();
  const rand = mulberry32(202);
  const n = LONG ? 1000 : 80;
  for (let i = 0; i < n; i++) {
    const m = bin.slice();
    const at = Math.floor(rand() * m.length);
    m[at] ^= 1 << Math.floor(rand() * 8);
    const { dir, files } = await caseDir('bin-flip', jsonText, m);
    await attempt(tally, `flip bit at byte ${at}`, dir, files);
  }
  for (let i = 0; i < (LONG ? 200 : 20); i++) {
    const cut = i === 0 ? 0 : Math.floor(rand() * bin.length);
    const { dir, files } = await caseDir('bin-cut', jsonText, bin.slice(0, cut));
    await attempt(tally, `weights cut at ${cut}`, dir, files);
  }
  for (const extra of [1, 4, 4096]) {
    const padded = new Uint8Array(bin.length + extra);
    padded.set(bin);
    const { dir, files } = await caseDir('bin-pad', jsonText, padded);
    await attempt(tally, `weights padded by ${extra}`, dir, files);
  }
  const { dir, files } = await caseDir('bin-missing', jsonText, null);
  await attempt(tally, 'weights missing', dir, files);
  tally.check(t, 'weights.bin flips, truncations, padding');
  t.is(tally.counts.same, 0, 'every change of weights.bin is detected (FNV-1a catches any single-byte change)');
});

/** Hostile edits of a valid model.json: each a function of the parsed JSON, or a raw text. */
function hostileCases(): Array<[string, string]> {
  const base = () => JSON.parse(jsonText);
  const edit = (f: (j: any) => void): string => {
    const j = base();
    f(j);
    return JSON.stringify(j);
  };
  const affine = (j: any) => j.quantization.weights.find((e: any) => e.encoding === 'affine');
  const raw = (j: any) => j.quantization.weights.find((e: any) => e.encoding === 'float32');
  // The tfjs topology: "modelTopology" in format v1, "packedTopology" from v2 on.
  const topo = (j: any) => j.packedTopology ?? j.modelTopology;
  const deep = (depth: number) => '{"format":"tfjs-sam-quantease/packed","modelTopology":' + '['.repeat(depth) + ']'.repeat(depth) + '}';
  return [
    ['null', 'null'], ['array', '[]'], ['string', '"model"'], ['number', '1e999'], ['empty object', '{}'], ['empty file', ''],
    ['BOM + garbage', '\ufeff{"a":'], ['deeply nested array (100k)', deep(100_000)],
    ['topology nested 100k deep', JSON.stringify(base()).replace(/"(packed|model)Topology":/, (m) => m + '[' .repeat(100_000) + ']'.repeat(100_000) + ',"x":')],
    ['__proto__ key', jsonText.replace('{', '{"__proto__":{"formatVersion":99},')],
    ['weightsFile ../../../etc/passwd', edit((j) => (j.weightsFile = '../../../etc/passwd'))],
    ['weightsFile /dev/zero', edit((j) => (j.weightsFile = '/dev/zero'))],
    ['weightsFile model.json', edit((j) => (j.weightsFile = 'model.json'))],
    ['weightsFile ..', edit((j) => (j.weightsFile = '..'))],
    ['weightsFile with NUL', edit((j) => (j.weightsFile = 'w\u0000.bin'))],
    ['weightsFile URL', edit((j) => (j.weightsFile = 'http://127.0.0.1:9/x'))],
    ['weightsFile number', edit((j) => (j.weightsFile = 7))],
    ['weightsByteLength -1', edit((j) => (j.weightsByteLength = -1))],
    ['weightsByteLength 1e15', edit((j) => (j.weightsByteLength = 1e15))],
    ['weightsByteLength 2^53', edit((j) => (j.weightsByteLength = 2 ** 53))],
    ['weightsByteLength 1.5', edit((j) => (j.weightsByteLength = 1.5))],
    ['weightsByteLength string', edit((j) => (j.weightsByteLength = String(j.weightsByteLength)))],
    ['checksum missing', edit((j) => delete j.weightsChecksum)],
    ['checksum wrong', edit((j) => (j.weightsChecksum = 'fnv1a32:00000000'))],
    ['offset -4', edit((j) => (affine(j).codes.offset = -4))],
    ['offset 1e20', edit((j) => (affine(j).codes.offset = 1e20))],
    ['offset 2^32', edit((j) => (affine(j).codes.offset += 2 ** 32))],
    ['offset string', edit((j) => (affine(j).codes.offset = '0'))],
    ['byteLength 2^31', edit((j) => (raw(j).data.byteLength = 2 ** 31))],
    ['shape 1e9 x 1e9', edit((j) => (raw(j).shape = [1e9, 1e9]))],
    ['shape [-1]', edit((j) => (raw(j).shape = [-1]))],
    ['shape [2.5]', edit((j) => (raw(j).shape = [2.5]))],
    ['shape of 100k dims', edit((j) => (raw(j).shape = new Array(100_000).fill(1)))],
    ['bits 0', edit((j) => (affine(j).bits = 0))],
    ['bits 9', edit((j) => (affine(j).bits = 9))],
    ['bits 1e9', edit((j) => (affine(j).bits = 1e9))],
    ['groupSize 0', edit((j) => (affine(j).groupSize = 0))],
    ['groups off by one', edit((j) => (affine(j).groups += 1))],
    ['outliers count 1e9', edit((j) => affine(j).outliers && (affine(j).outliers.count = 1e9))],
    ['outliers count -1', edit((j) => affine(j).outliers && (affine(j).outliers.count = -1))],
    ['outliers inline array', edit((j) => (affine(j).outliers = [1, 2, 3]))],
    ['encoding unknown', edit((j) => (affine(j).encoding = 'affine2'))],
    ['dtype int32', edit((j) => (raw(j).dtype = 'int32'))],
    ['entries duplicated', edit((j) => j.quantization.weights.push(j.quantization.weights[0]))],
    ['entry removed', edit((j) => j.quantization.weights.pop())],
    ['entries empty', edit((j) => (j.quantization.weights = []))],
    ['entries 10k', edit((j) => (j.quantization.weights = new Array(10_000).fill(j.quantization.weights[0])))],
    ['weights not an array', edit((j) => (j.quantization.weights = { 0: j.quantization.weights[0] }))],
    ['quantization version 2', edit((j) => (j.quantization.version = 2))],
    ['formatVersion 99', edit((j) => (j.formatVersion = 99))],
    ['format other', edit((j) => (j.format = 'layers-model'))],
    ['topology missing', edit((j) => (j.packedTopology ? delete j.packedTopology : delete j.modelTopology))],
    ['topology a string', edit((j) => (j.packedTopology ? (j.packedTopology = 'x') : (j.modelTopology = 'x')))],
    ['topology unknown layer class', edit((j) => (topo(j).config.layers[0].class_name = 'NoSuchLayer'))],
    ['topology Lambda layer', edit((j) => (topo(j).config.layers[0].class_name = 'Lambda'))],
    ['topology layers not an array', edit((j) => (topo(j).config.layers = 5))],
    ['topology units changed', edit((j) => (topo(j).config.layers[0].config.units = 7))],
    ['topology weight name changed', edit((j) => (topo(j).config.layers[0].config.name = 'renamed'))],
    ['topology activation changed (relu -> selu)', edit((j) => (topo(j).config.layers[0].config.activation = 'selu'))],
    ['1 MB name', edit((j) => (raw(j).name = 'n'.repeat(1_000_000)))],
  ];
}

test.serial('hostile model.json', async (t) => {
  const tally = new Tally();
  for (const [label, text] of hostileCases()) {
    const { dir, files } = await caseDir('hostile', text, bin);
    await attempt(tally, label, dir, files);

  }
  tally.check(t, 'hostile model.json', !protectsTopology); // v1: an edited activation loads silently
});

test.serial('/dev/zero, FIFO, directory and symlink-loop stand-ins never block or grow memory', async (t) => {
  const tally = new Tally();
  const stand = async (label: string, make: (file: string) => Promise<void>, which: 'model.json' | 'weights') => {
    const dir = path.join(root, 'stand-' + label.replace(/\W+/g, '_'));
    await mkdir(dir, { recursive: true });
    const jsonFile = path.join(dir, 'model.json');
    const weightsFile = path.join(dir, weightsName);
    if (which === 'model.json') {
      await writeFile(weightsFile, bin);
      await make(jsonFile);
    } else {
      await writeFile(jsonFile, jsonText);
      await make(weightsFile);
    }
    await attempt(tally, label, dir, [which === 'model.json' ? weightsFile : jsonFile]);
  };
  for (const which of ['model.json', 'weights'] as const) {
    await stand(`${which} -> /dev/zero`, (f) => symlink('/dev/zero', f), which);
    await stand(`${which} FIFO`, async (f) => void execFileSync('mkfifo', [f]), which);
    await stand(`${which} directory`, (f) => mkdir(f), which);
    await stand(`${which} symlink loop`, (f) => symlink(path.basename(f), f), which);
    await stand(`${which} dangling symlink`, (f) => symlink('nowhere', f), which);
  }
  tally.check(t, 'file stand-ins');
  t.is(tally.counts.clear, 10);
});
