/**
 * The dependency direction, read from the import graph (issue 8): plugins/ imports nothing from
 * adapters/, recipes/ or @tensorflow/tfjs-layers; adapters/fit imports only plugins/ and tfjs-core.
 */
import test from 'ava';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'node_modules' ? [] : sources(p);
    return /\.(ts|mts|js|mjs)$/.test(name) && !name.endsWith('.d.ts') ? [p] : [];
  });
}

/** Every module a file imports or re-exports (static and dynamic), resolved to a repository path or left as a package name. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const specs = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g)].map((m) => m[1]);
  return specs.map((s) => (s.startsWith('.') ? relative(ROOT, resolve(dirname(file), s)) : s));
}

const edges = (dir: string) => sources(join(ROOT, dir)).flatMap((f) => importsOf(f).map((to) => ({ from: relative(ROOT, f), to })));

test('plugins/ imports nothing from adapters/, recipes/ or tfjs-layers', (t) => {
  const all = edges('plugins');
  t.true(all.length > 20, `the scan found the imports (${all.length})`);
  const bad = all.filter((e) => /^(adapters|recipes)\//.test(e.to) || e.to.startsWith('@tensorflow/tfjs-layers'));
  t.deepEqual(bad, []);
});

test('adapters/fit imports only plugins/, its own folder and tfjs-core', (t) => {
  const bad = edges('adapters/fit').filter((e) => !/^(plugins|adapters\/fit)\//.test(e.to) && e.to !== '@tensorflow/tfjs-core');
  t.deepEqual(bad, []);
});

test('the scan sees through comments and both quote styles (self-check on a sample)', (t) => {
  const sample = join(ROOT, 'adapters/fit/index.ts');
  t.true(importsOf(sample).includes('adapters/fit/install_sam_fit.ts'));
  t.true(importsOf(sample).includes('plugins/sam/sam_optimizer.ts'));
});
