import test from 'ava';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../../../adapters/cli/cli.ts';
import { parseNpy } from '../../../adapters/cli/calibration_file.ts';
import { modelArtifacts } from '../../../adapters/io/artifacts.ts';
import { loadQuantized } from '../../../adapters/io/load_quantized.ts';
import { quantizeModel } from '../../../adapters/quantize/quantize_model.ts';
import { convDenseModel, correlatedImages, outputError, weightValues } from '../quantize/models.ts';

const BIN = fileURLToPath(new URL('../../../adapters/cli/bin.ts', import.meta.url));
let dir: string;
let model: tfl.LayersModel;
let calib: tf.Tensor4D;

/** A .npy v1.0 float32 file, written by hand: magic, version, header length, dict padded to 64 bytes. */
function npy(t: tf.Tensor): Uint8Array {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${t.shape.join(', ')}), }`;
  header += ' '.repeat(64 - ((10 + header.length + 1) % 64)) + '\n';
  const out = new Uint8Array(10 + header.length + t.size * 4);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array((t.dataSync() as Float32Array).slice().buffer), 10 + header.length);
  return out;
}

/** Writes a standard tfjs-layers model.json + weights.bin (what model.save('file://') writes). */
async function saveTfjs(m: tfl.LayersModel, to: string): Promise<string> {
  const a = await modelArtifacts(m);
  await writeFile(path.join(to, 'weights.bin'), new Uint8Array(a.weightData));
  const json = { format: 'layers-model', modelTopology: a.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }] };
  await writeFile(path.join(to, 'model.json'), JSON.stringify(json));
  return path.join(to, 'model.json');
}

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

async function inProcess(args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) });
  return { code, stdout, stderr };
}

test.before(async () => {
  await tf.setBackend('cpu');
  dir = await mkdtemp(path.join(tmpdir(), 'qcli-'));
  model = convDenseModel(6);
  calib = correlatedImages(64, 3);
  await saveTfjs(model, dir);
  await writeFile(path.join(dir, 'calib.npy'), npy(calib));
});

test.after.always(async () => {
  model.dispose();
  calib.dispose();
  await rm(dir, { recursive: true, force: true });
});

test.serial('end to end: the spawned command quantizes a saved model exactly as quantizeModel does', async (t) => {
  const out = path.join(dir, 'q');
  const r = await run(['quantize', path.join(dir, 'model.json'), '--calibration', path.join(dir, 'calib.npy'),
    '--method', 'quantease', '--bits', '4', '--outliers', '0.02', '--sweeps', '5', '--out', out, '--backend', 'cpu']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /\| conv_a \| Conv2D \| quantease \| 4 \|/);
  t.regex(r.stdout, /4 layer\(s\) quantized/);
  t.deepEqual((await readdir(out)).sort(), ['model.json', 'weights.bin']);
  const loaded = await loadQuantized(out);
  const { model: ref } = await quantizeModel(model, calib, { method: 'quantease', bits: 4, outliers: { fraction: 0.02, structured: false }, sweeps: 5 });
  t.deepEqual(weightValues(loaded), weightValues(ref));
  t.true(outputError(model, loaded, calib) < 0.05);
  loaded.dispose();
  ref.dispose();
});

test.serial('the spawned command exits non-zero with a clear message on bad input', async (t) => {
  const wrong = tf.zeros([4, 8, 8, 3]);
  await writeFile(path.join(dir, 'wrong.npy'), npy(wrong));
  wrong.dispose();
  const r = await run(['quantize', path.join(dir, 'model.json'), '--calibration', path.join(dir, 'wrong.npy'), '--out', path.join(dir, 'x'), '--backend', 'cpu', '--quiet']);
  t.is(r.code, 1);
  t.regex(r.stderr, /^error: Calibration tensor input 0 has shape \[4,8,8,3\] but the model input .* expects \[n, 8, 8, 2\]/m);
  t.false((await readdir(dir)).includes('x'));
});

test.serial('usage and input errors in process: --help, missing flags, bad numbers, bad files', async (t) => {
  const m = path.join(dir, 'model.json');
  const c = path.join(dir, 'calib.npy');
  const o = path.join(dir, 'o');
  const help = await inProcess(['--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /Usage: tfjs-sam-quantease quantize <model.json>/);
  const cases: Array<[string[], number, RegExp]> = [
    [[], 2, /Missing command/],
    [['quantize', m, '--out', o], 2, /Missing --calibration/],
    [['quantize', m, '--calibration', c], 2, /Missing --out/],
    [['quantize', m, '--calibration', c, '--out', o, '--bits', 'four'], 2, /--bits must be an integer. Received: "four"/],
    [['quantize', m, '--calibration', c, '--out', o, '--frobnicate'], 2, /Unknown option '--frobnicate'/],
    [['quantize', m, '--calibration', c, '--out', o, '--bits', '9', '--backend', 'cpu', '--quiet'], 1, /`bits` must be an integer in 2..8. Received: bits=9/],
    [['quantize', m, '--calibration', c, '--out', o, '--method', 'rtn', '--outliers', '0.01', '--backend', 'cpu', '--quiet'], 1, /outliers/],
    [['quantize', path.join(dir, 'nope.json'), '--calibration', c, '--out', o, '--backend', 'cpu', '--quiet'], 1, /Cannot read .*nope\.json: no such file/],
    [['quantize', m, '--calibration', path.join(dir, 'calib.txt'), '--out', o, '--backend', 'cpu', '--quiet'], 1, /Cannot read calibration file/],
  ];
  for (const [args, code, message] of cases) {
    const r = await inProcess(args);
    t.is(r.code, code, args.join(' '));
    t.regex(r.stderr, message, args.join(' '));
  }
  // The JSON calibration form and --include work too.
  await writeFile(path.join(dir, 'calib.json'), JSON.stringify({ shape: calib.shape, data: Array.from(calib.dataSync()) }));
  const r = await inProcess(['quantize', m, '--calibration', path.join(dir, 'calib.json'), '--out', o, '--method', 'rtn', '--bits', '8', '--include', 'dense_*', '--backend', 'cpu', '--quiet']);
  t.is(r.code, 0, r.stderr);
  t.regex(r.stdout, /\| conv_a \| Conv2D \| skipped: excluded/);
  t.regex(r.stdout, /\| dense_a \| Dense \| rtn \| 8 \|/);
});

test('the .npy reader matches the hand-written file and rejects bad ones', (t) => {
  const x = tf.tensor([1, 2, 3, 4, 5, 6], [3, 2]);
  const parsed = parseNpy(npy(x));
  t.deepEqual(parsed.shape, [3, 2]);
  t.deepEqual(Array.from(parsed.data), [1, 2, 3, 4, 5, 6]);
  t.throws(() => parseNpy(npy(x).slice(0, 128 + 20)), { message: /truncated data/ });
  t.throws(() => parseNpy(new Uint8Array(20)), { message: /not a .npy file/ });
  x.dispose();
});
