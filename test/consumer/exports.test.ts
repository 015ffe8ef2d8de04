/**
 * package.json `exports` and this repository's way of running the sources agree. Each export is
 * one line, `{types, import, default}` under ./dist/; tsconfig.json `paths` maps the same
 * specifier to the TypeScript file the dist path is built from, so recipes, templates and tests
 * import `tfjs-sam-quantease/...` as a user does and tsx/tsc/esbuild run the sources (no build,
 * no stale dist/). Adding an entry point for adapters/<name>/index.ts or plugins/<name>/index.ts is
 * one line in package.json exports (tsconfig's `tfjs-sam-quantease/*` fallback finds the source);
 * any other file also needs its line in tsconfig paths, and this test names it.
 */
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const PKG = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as {
  name: string; exports: Record<string, string | Record<string, string>>; bin: Record<string, string>;
  main: string; types: string; files: string[]; dependencies: Record<string, string>;
  peerDependencies: Record<string, string>; peerDependenciesMeta: Record<string, { optional?: boolean }>;
  devDependencies: Record<string, string>;
};
const PATHS = (JSON.parse(readFileSync(path.join(ROOT, 'tsconfig.json'), 'utf8')) as {
  compilerOptions: { paths: Record<string, string[]> };
}).compilerOptions.paths;

/** ./dist/a/b.js or ./dist/a/b.d.ts -> ./a/b.ts */
function sourceOf(distPath: string): string {
  return distPath.replace(/^\.\/dist\//, './').replace(/(\.d)?\.js$|\.d\.ts$/, '.ts');
}

const entries = Object.entries(PKG.exports).filter(([key]) => key !== './package.json');

test('every export has types, import and default under ./dist, built from one source file', (t) => {
  t.true(entries.length >= 7);
  for (const [key, target] of entries) {
    t.is(typeof target, 'object', key);
    const { node, types, import: esm, default: fallback } = target as Record<string, string> & { node?: Record<string, string> };
    // A Node-only variant (Node's file saving beside the browser-safe entry) comes first, as conditions are tried in order.
    t.deepEqual(Object.keys(target as object), node ? ['node', 'types', 'import', 'default'] : ['types', 'import', 'default'], key);
    if (node) {
      t.deepEqual(Object.keys(node), ['types', 'default'], `${key}: node`);
      t.regex(node.types, /^\.\/dist\/.+\.d\.ts$/, `${key}: node`);
      t.is(sourceOf(node.types), sourceOf(node.default), `${key}: node`);
      t.true(existsSync(path.join(ROOT, sourceOf(node.default))), `${key}: ${sourceOf(node.default)} does not exist`);
    }
    t.regex(types, /^\.\/dist\/.+\.d\.ts$/, key);
    t.regex(esm, /^\.\/dist\/.+\.js$/, key);
    t.is(fallback, esm, `${key}: default is the ES module too (require(esm), Node >= 20.19)`);
    t.is(sourceOf(types), sourceOf(esm), key);
    t.true(existsSync(path.join(ROOT, sourceOf(esm))), `${key}: ${sourceOf(esm)} does not exist`);
  }
  t.is(PKG.main, (PKG.exports['.'] as Record<string, string>).import);
  t.is(PKG.types, (PKG.exports['.'] as Record<string, string>).types);
  for (const bin of Object.values(PKG.bin)) t.true(existsSync(path.join(ROOT, sourceOf(bin))), bin);
  t.deepEqual(PKG.files, ['dist', '!dist/**/*.tsbuildinfo']);
});

/** What tsc and tsx resolve `specifier` to through tsconfig paths: the exact key, else the first existing `*` candidate. */
function pathsTarget(specifier: string): string | undefined {
  if (PATHS[specifier]) return PATHS[specifier][0];
  const prefix = `${PKG.name}/`;
  if (!specifier.startsWith(prefix) || !PATHS[`${prefix}*`]) return undefined;
  const rest = specifier.slice(prefix.length);
  return PATHS[`${prefix}*`].map((c) => c.replace('*', rest)).find((c) => existsSync(path.join(ROOT, c)));
}

test('tsconfig paths resolve each export to the source its dist file is built from', (t) => {
  const specifiers = new Set<string>();
  for (const [key, target] of entries) {
    const specifier = PKG.name + key.slice(1);
    specifiers.add(specifier);
    const source = sourceOf((target as Record<string, string>).import);
    t.is(pathsTarget(specifier), source, `tsconfig.json paths needs: "${specifier}": ["${source}"]`);
  }
  // Explicit entries only for exports (the `*` fallback covers adapters/<name>/index.ts and plugins/<name>/index.ts).
  t.deepEqual(Object.keys(PATHS).filter((k) => !k.endsWith('/*') && !specifiers.has(k)), []);
});

test('dependencies: tfjs peers ^4.22.0, node backends optional, wasm and cpu regular, tsx dev only', (t) => {
  t.deepEqual(PKG.peerDependencies, {
    '@tensorflow/tfjs-core': '^4.22.0', '@tensorflow/tfjs-layers': '^4.22.0',
    '@tensorflow/tfjs-node': '^4.22.0', '@tensorflow/tfjs-node-gpu': '^4.22.0',
  });
  t.deepEqual(PKG.peerDependenciesMeta, { '@tensorflow/tfjs-node': { optional: true }, '@tensorflow/tfjs-node-gpu': { optional: true } });
  t.deepEqual(Object.keys(PKG.dependencies).sort(), ['@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs-backend-wasm']);
  t.truthy(PKG.devDependencies.tsx);
});

async function tsFiles(dir: string): Promise<string[]> {
  return (await readdir(path.join(ROOT, dir), { recursive: true }))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.join(dir, f));
}

test('the library imports itself only by relative paths; recipes only by public entry points', async (t) => {
  const selfImport = new RegExp(`^\\s*(?:import|export)\\b[^'"]*?from\\s*['"]${PKG.name}(/[^'"]*)?['"]|import\\(\\s*['"]${PKG.name}`, 'm');
  for (const f of [...(await tsFiles('plugins')), ...(await tsFiles('adapters'))]) {
    t.false(selfImport.test(await readFile(path.join(ROOT, f), 'utf8')), `${f} imports ${PKG.name}: use a relative path (dist/ runs without tsconfig paths)`);
  }
  const deep = /(?:from\s*|import\(\s*)['"]((?:\.\.\/)+(?:plugins|adapters)\/[^'"]*)['"]/g;
  /** Internals a benchmark measures on purpose (not public API), each with its reason. */
  const allowed: Record<string, string> = {
    'recipes/bench_quantize_model.ts: ../adapters/quantize/run_quantize.ts': 'compares capture strategies, an internal knob',
    'recipes/bench_load.ts: ../adapters/io/artifacts.ts': 'times the model build without initializers against tfjs, an internal step of the loader',
    'recipes/bench_quant_ablation.ts: ../adapters/quantize/calibration.ts': 'captures real layer problems, an internal step of quantizeModel',
    'recipes/bench_quant_ablation.ts: ../adapters/quantize/capture.ts': 'captures real layer problems, an internal step of quantizeModel',
    'recipes/bench_quant_ablation.ts: ../adapters/quantize/layer_problems.ts': 'captures real layer problems, an internal step of quantizeModel',
    'recipes/bench_quantease_speed.ts: ../plugins/quantease/kernels/inner_sweep.ts': 'switches the compiled kernel off to time the JS path',
  };
  const offenders: string[] = [];
  for (const f of await tsFiles('recipes')) {
    for (const [, spec] of (await readFile(path.join(ROOT, f), 'utf8')).matchAll(deep)) {
      const key = `${f.split(path.sep).join('/')}: ${spec}`;
      if (!(key in allowed)) offenders.push(key);
    }
  }
  t.deepEqual(offenders, [], `import these from '${PKG.name}/...' as a user would`);
  // ... and only specifiers a user can import (the tsconfig `*` fallback would resolve more).
  const exported = new Set(entries.map(([key]) => PKG.name + key.slice(1)));
  const unexported: string[] = [];
  let found = 0;
  const specifier = new RegExp(`(?:from\\s*|import\\(\\s*)['"](${PKG.name}(?:/[^'"]*)?)['"]`, 'g');
  for (const f of [...(await tsFiles('recipes')), ...(await tsFiles('test'))]) {
    for (const [, s] of (await readFile(path.join(ROOT, f), 'utf8')).matchAll(specifier)) {
      found++;
      if (!exported.has(s)) unexported.push(`${f}: ${s}`);
    }
  }
  t.true(found > 30, `only ${found} imports of ${PKG.name} found: the pattern no longer matches`);
  t.deepEqual(unexported, []);
});
