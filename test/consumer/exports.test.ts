/**
 * package.json `exports` and this repository's way of running the sources agree. Each export is
 * one line, `{types, import, default}` under ./dist/; tsconfig.json `paths` maps the same
 * specifier to the TypeScript file the dist path is built from, so recipes, templates and tests
 * import `tfjs-sam-quantease/...` as a user does and tsx/tsc/esbuild run the sources (no build,
 * no stale dist/). Adding an entry point: one line in package.json exports and one in tsconfig
 * paths; this test names the missing line.
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
    const { types, import: esm, default: fallback } = target as Record<string, string>;
    t.deepEqual(Object.keys(target as object), ['types', 'import', 'default'], key);
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

test('tsconfig paths map each export to its source, and nothing else', (t) => {
  const expected: Record<string, string[]> = {};
  for (const [key, target] of entries) {
    expected[PKG.name + key.slice(1)] = [sourceOf((target as Record<string, string>).import)];
  }
  for (const [specifier, sources] of Object.entries(expected)) {
    t.deepEqual(PATHS[specifier], sources, `tsconfig.json paths needs: "${specifier}": ${JSON.stringify(sources)}`);
  }
  t.deepEqual(Object.keys(PATHS).sort(), Object.keys(expected).sort());
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
  const selfImport = new RegExp(`from ['"]${PKG.name}(/[^'"]*)?['"]`);
  for (const f of [...(await tsFiles('plugins')), ...(await tsFiles('adapters'))]) {
    t.false(selfImport.test(await readFile(path.join(ROOT, f), 'utf8')), `${f} imports ${PKG.name}: use a relative path (dist/ runs without tsconfig paths)`);
  }
  const deep = /from ['"](\.\.\/)+(plugins|adapters)\/[^'"]*['"]/;
  const offenders: string[] = [];
  for (const f of await tsFiles('recipes')) {
    if (deep.test(await readFile(path.join(ROOT, f), 'utf8'))) offenders.push(f);
  }
  t.deepEqual(offenders, [], `import these from '${PKG.name}/...' as a user would`);
});
