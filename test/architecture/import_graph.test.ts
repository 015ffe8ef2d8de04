/**
 * The dependency rules of the layout, checked on the import graph of the sources:
 *
 *   recipes -> cli -> quantize -> io -> plugins        fit -> plugins
 *
 * (replaces test/plugins/sam/dependencies.test.ts, which checked the first and the fit rule)
 * - plugins/ imports nothing from adapters/, recipes/ or test/, and not @tensorflow/tfjs-layers;
 * - no adapters/ or plugins/ file imports recipes/ or test/;
 * - the folders under adapters/ form no cycle (folder-level graph);
 * - adapters/io imports nothing from adapters/quantize, adapters/cli or adapters/fit;
 * - adapters/fit imports only plugins/, its own folder and tfjs-core.
 * Static imports, `export ... from` and dynamic `import('...')` with a literal specifier count.
 */
import test from 'ava';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (name === 'node_modules' || name === 'results') continue;
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (/\.(ts|mts|mjs|js)$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const SPECIFIER = /(?:^|[^.\w])(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|(?:^|[^.\w])import\s*\(\s*['"]([^'"]+)['"]\s*\)|(?:^|[^.\w])import\s+['"]([^'"]+)['"]/gm;

/** file (relative to the repo) -> the specifiers it imports, relative ones resolved to repo paths. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const top of ['plugins', 'adapters', 'recipes']) {
    for (const file of sourceFiles(path.join(root, top))) {
      // Comments may quote imports (doc examples): drop them before matching.
      const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
      const deps: string[] = [];
      for (const m of text.matchAll(SPECIFIER)) {
        const spec = m[1] ?? m[2] ?? m[3];
        deps.push(spec.startsWith('.') ? path.relative(root, path.resolve(path.dirname(file), spec)) : spec);
      }
      graph.set(path.relative(root, file), deps);
    }
  }
  return graph;
}

const graph = importGraph();
const edges = [...graph].flatMap(([from, deps]) => deps.map((to) => ({ from, to })));
const under = (p: string, dir: string) => p === dir || p.startsWith(dir + '/');

test('the graph was read (the rules below are not vacuous)', (t) => {
  t.true(graph.size > 50, `${graph.size} files`);
  t.true(edges.some((e) => under(e.from, 'adapters/quantize') && under(e.to, 'adapters/io')));
  t.true(edges.some((e) => under(e.from, 'plugins') && e.to === '@tensorflow/tfjs-core'));
});

test('plugins/ imports nothing from adapters/, recipes/, test/ or tfjs-layers', (t) => {
  const bad = edges.filter((e) => under(e.from, 'plugins') &&
    (under(e.to, 'adapters') || under(e.to, 'recipes') || under(e.to, 'test') || e.to.startsWith('@tensorflow/tfjs-layers')));
  t.deepEqual(bad.map((e) => `${e.from} -> ${e.to}`), []);
});

test('library code never imports recipes/ or test/', (t) => {
  const bad = edges.filter((e) => (under(e.from, 'plugins') || under(e.from, 'adapters')) && (under(e.to, 'recipes') || under(e.to, 'test')));
  t.deepEqual(bad.map((e) => `${e.from} -> ${e.to}`), []);
});

test('adapters/io imports nothing from quantize, cli or fit', (t) => {
  const bad = edges.filter((e) => under(e.from, 'adapters/io') &&
    ['adapters/quantize', 'adapters/cli', 'adapters/fit'].some((d) => under(e.to, d)));
  t.deepEqual(bad.map((e) => `${e.from} -> ${e.to}`), []);
});

test('the folders under adapters/ form no import cycle', (t) => {
  const folder = (p: string) => (under(p, 'adapters') ? p.split('/').slice(0, 2).join('/') : null);
  const next = new Map<string, Set<string>>();
  for (const e of edges) {
    const a = folder(e.from);
    const b = folder(e.to);
    if (a && b && a !== b && !b.endsWith('.ts')) (next.get(a) ?? next.set(a, new Set()).get(a)!).add(b);
  }
  // Depth-first search for a back edge; report the cycle it closes.
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (n: string, trail: string[]) => {
    state.set(n, 'open');
    for (const m of next.get(n) ?? []) {
      if (state.get(m) === 'open') cycles.push([...trail.slice(trail.indexOf(m)), n, m].join(' -> '));
      else if (!state.has(m)) visit(m, [...trail, n]);
    }
    state.set(n, 'done');
  };
  for (const n of next.keys()) if (!state.has(n)) visit(n, []);
  t.deepEqual(cycles, []);
});

test('adapters/fit imports only plugins/, its own folder and tfjs-core', (t) => {
  const bad = edges.filter((e) => under(e.from, 'adapters/fit') &&
    !(under(e.to, 'plugins') || under(e.to, 'adapters/fit') || e.to === '@tensorflow/tfjs-core'));
  t.deepEqual(bad.map((e) => `${e.from} -> ${e.to}`), []);
});
