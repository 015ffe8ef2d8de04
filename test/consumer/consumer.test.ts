/**
 * The package as a stranger installs it: `npm pack` (which builds dist/ through `prepack`), then
 * `npm install` of the tarball into an empty project in a temporary folder, without network: the
 * project's own dependencies on tfjs are `file:` links to this repository's installed copies, so
 * npm resolves the tarball's dependencies and peers to them and fetches nothing. Then, each a
 * separate test: a plain-node ES module script, the same through `require`, a strict `tsc`
 * consumer against dist/*.d.ts, the CLI through plain node, and an esbuild browser bundle of each
 * entry a page imports. The scripts are in fixture/; the tarball's size and file count are logged.
 */
import test from 'ava';
import { execFile, type ExecFileOptions } from 'node:child_process';
import { cp, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { builtinModules } from 'node:module';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const FIXTURE = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixture');
const PKG = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as {
  name: string; version: string; exports: Record<string, unknown>; bin: Record<string, string>; sideEffects: string[];
};
/** This repository's installed packages the consumer project links to (dependencies and peers of the tarball, and @types for tsc). */
const LINKED = [
  '@tensorflow/tfjs-core', '@tensorflow/tfjs-layers', '@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs-backend-wasm',
  '@types/node', '@types/long', '@types/seedrandom', '@types/offscreencanvas',
];
const NPM = process.platform === 'win32' ? 'npm.cmd' : 'npm';

interface Run { code: number; stdout: string; stderr: string }

function run(cmd: string, args: string[], options: ExecFileOptions = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { maxBuffer: 64 << 20, ...options, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** The last line of stdout that parses as JSON (tfjs prints a banner before it). */
function lastJson(out: string): Record<string, unknown> {
  const line = out.trim().split('\n').reverse().find((l) => l.startsWith('{'));
  if (!line) throw new Error(`No JSON line in: ${out}`);
  return JSON.parse(line) as Record<string, unknown>;
}

let work: string;
let project: string;
let tarball: string;
let packed: { size: number; unpackedSize: number; entryCount: number; files: Array<{ path: string }> };
let esm: Run;

test.before(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'tfjs-sam-quantease-consumer-'));
  const pack = await run(NPM, ['pack', '--json', '--pack-destination', work], { cwd: ROOT });
  if (pack.code !== 0) throw new Error(`npm pack failed (${pack.code}): ${pack.stderr.slice(-2000)}`);
  [packed] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as Array<typeof packed & { filename: string }>;
  tarball = path.join(work, (packed as unknown as { filename: string }).filename);
  project = path.join(work, 'project');
  await cp(FIXTURE, project, { recursive: true });
  const dependencies: Record<string, string> = {};
  for (const name of LINKED) {
    const dir = path.join(ROOT, 'node_modules', name);
    if (await stat(dir).catch(() => null)) dependencies[name] = `file:${dir}`;
  }
  await writeFile(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, dependencies }, null, 2));
  const install = await run(NPM, ['install', '--offline', '--no-audit', '--no-fund', '--no-package-lock', '--ignore-scripts', tarball], { cwd: project });
  if (install.code !== 0) throw new Error(`npm install of the tarball failed (${install.code}): ${install.stderr.slice(-2000)}`);
  esm = await run(process.execPath, ['train_and_quantize.mjs', path.join(project, 'out')], { cwd: project });
});

test.after.always(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

test('the tarball holds dist/, README, LICENSE and package.json only', (t) => {
  const files = packed.files.map((f) => f.path);
  t.log(`tarball: ${packed.size} bytes packed, ${packed.unpackedSize} unpacked, ${packed.entryCount} files`);
  t.deepEqual(files.filter((f) => !f.startsWith('dist/')).sort(), ['LICENSE', 'README.md', 'package.json']);
  t.deepEqual(files.filter((f) => f.startsWith('dist/') && !/\.(js|d\.ts)$/.test(f)), []);
  // Every export and the bin point at files in the tarball.
  // (condition objects nest: {node: {types, default}, types, import, default})
  const targets = (x: unknown): string[] => (typeof x === 'string' ? [x] : Object.values(x as object).flatMap(targets));
  for (const [key, target] of Object.entries(PKG.exports)) {
    for (const file of targets(target)) t.true(files.includes(file.replace(/^\.\//, '')), `${key} -> ${file}`);
  }
  for (const bin of Object.values(PKG.bin)) t.true(files.includes(bin.replace(/^\.\//, '')), bin);
});

test('sideEffects lists every built module that registers a class at import', async (t) => {
  const dist = path.join(project, 'node_modules', PKG.name, 'dist');
  const registering: string[] = [];
  for (const f of await readdir(dist, { recursive: true })) {
    if (!f.endsWith('.js')) continue;
    if (/^\S.*registerClass\(/m.test(await readFile(path.join(dist, f), 'utf8'))) registering.push(`./dist/${f.split(path.sep).join('/')}`);
  }
  t.true(registering.length > 0);
  t.deepEqual(registering.sort(), [...PKG.sideEffects].sort());
});

test('ES modules with plain node: fit with sam(adam), quantize, save, reload', (t) => {
  t.is(esm.code, 0, esm.stderr);
  const r = lastJson(esm.stdout);
  const loss = r.loss as number[];
  t.is(r.optimizer, 'SAMOptimizer');
  t.true(loss[loss.length - 1] < loss[0] / 100, `loss ${loss[0]} -> ${loss[loss.length - 1]}`);
  t.deepEqual(r.layers, ['dense_Dense1', 'dense_Dense2']);
  // 8-bit RTN of weights in about [-1, 1]: steps near 2/255, outputs of size ~3 move by < 0.05 but do move.
  t.true((r.quantError as number) > 0 && (r.quantError as number) < 0.05, String(r.quantError));
  t.is(r.reloadError, 0); // the packed files hold exactly the quantized weights
  t.is(r.leaked, 0);
  t.true(r.rootSameAsSubpath as boolean);
});

test('CommonJS require of the same package computes the same numbers', async (t) => {
  const cjs = await run(process.execPath, ['train_and_quantize.cjs'], { cwd: project });
  t.is(cjs.code, 0, cjs.stderr);
  const a = lastJson(esm.stdout);
  const b = lastJson(cjs.stdout);
  t.deepEqual(b, { loss: a.loss, optimizer: a.optimizer, layers: a.layers, quantError: a.quantError });
});

test('a strict tsc consumer type-checks against dist/*.d.ts only', async (t) => {
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const check = await run(process.execPath, [tsc, '-p', '.', '--listFiles'], { cwd: project });
  const ours = check.stdout.split('\n').filter((f) => f.startsWith('/') && f.includes(`/node_modules/${PKG.name}/`));
  t.true(ours.length > 10, check.stdout.slice(-2000));
  t.deepEqual(ours.filter((f) => !f.endsWith('.d.ts')), []);
  const errors = check.stdout.split('\n').filter((l) => /error TS\d+/.test(l));
  // tfjs's own declarations do not pass skipLibCheck: false under strict (e.g. LayersModel vs
  // InferenceModel, TS2420); only errors in our declarations or in the consumer's file count.
  const mine = errors.filter((l) => !l.includes('node_modules/@tensorflow/'));
  t.log(`tsc: ${errors.length - mine.length} errors inside @tensorflow's own .d.ts (not ours), ${mine.length} elsewhere`);
  t.deepEqual(mine, []);
});

test('the CLI runs with plain node from node_modules/.bin on a saved float model', async (t) => {
  t.is(esm.code, 0, esm.stderr);
  const bin = path.join(project, 'node_modules', '.bin', 'tfjs-sam-quantease');
  const version = await run(process.execPath, [bin, '--version'], { cwd: project });
  t.is(version.stdout.trim(), PKG.version);
  const out = path.join(project, 'out');
  const q = await run(process.execPath, [
    bin, 'quantize', path.join(out, 'float', 'model.json'), '--calibration', path.join(out, 'calibration.json'),
    '--out', path.join(out, 'cli'), '--method', 'gptq', '--bits', '4',
  ], { cwd: project });
  t.is(q.code, 0, q.stderr);
  // No backend named: the default order lands on wasm, a regular dependency of the package.
  t.regex(q.stderr, /backend: wasm/);
  t.regex(q.stdout, /\| dense_Dense1 \| Dense \| gptq \| 4 \|/);
  t.deepEqual((await readdir(path.join(out, 'cli'))).sort(), ['model.json', 'weights.bin']);
  const bad = await run(process.execPath, [bin, 'quantize', 'm.json', '--calibration', 'c.npy', '--out', 'o', '--backend', 'gpu'], { cwd: project });
  t.is(bad.code, 2);
  t.is(bad.stderr, 'error: --backend must be one of node-gpu, node, wasm, wasm-stock, cpu. Received: "gpu".\nRun tfjs-sam-quantease --help for usage.\n');
});

/** Bundles `import * as m from '<specifier>'` for a browser page; returns the Node builtins it reaches. */
async function browserBundle(specifier: string): Promise<{ builtins: string[]; errors: string[] }> {
  const esbuild = await import('esbuild');
  const nodeBuiltins = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);
  const reached: string[] = [];
  try {
    await esbuild.build({
      stdin: { contents: `import * as m from '${specifier}'; globalThis.m = m;`, resolveDir: project, loader: 'js' },
      bundle: true, write: false, platform: 'browser', format: 'esm', logLevel: 'silent',
      external: ['@tensorflow/*'], // tfjs is the page's own dependency; only our code is under test
      plugins: [{
        name: 'node-builtins',
        setup(build) {
          build.onResolve({ filter: /.*/ }, (args) => {
            if (!nodeBuiltins.has(args.path)) return undefined;
            reached.push(`${args.path} (from ${path.relative(project, args.importer)})`);
            return { path: args.path, external: true };
          });
        },
      }],
    });
    return { builtins: reached, errors: [] };
  } catch (err) {
    return { builtins: reached, errors: [(err as Error).message] };
  }
}

// Every entry a page imports, and the root (which re-exports /quantize and /io): no Node builtin.
for (const entry of ['/io', '/sam', '/quantease', '/quantize', '/prune', '/sharpness', '']) {
  test(`a browser bundle of ${PKG.name}${entry} reaches no Node builtin`, async (t) => {
    const r = await browserBundle(`${PKG.name}${entry}`);
    t.deepEqual(r.errors, []);
    t.deepEqual(r.builtins, []);
  });
}
