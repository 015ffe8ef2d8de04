/**
 * What a page imports never reaches a Node builtin: esbuild bundles the browser entries (io,
 * quantize, sam) for platform "browser" and the bundle holds no import of a Node module. The Node
 * entries (adapters/io/node_entry.ts, adapters/quantize/node_entry.ts) do, by design.
 */
import test from 'ava';
import * as esbuild from 'esbuild';
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BUILTINS = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

/** Bundles `entry` for the browser; returns the Node builtins it imports (statically or by literal dynamic import). */
async function nodeImports(entry: string): Promise<string[]> {
  const found: string[] = [];
  const result = await esbuild.build({
    entryPoints: [ROOT + entry],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    metafile: true,
    logLevel: 'silent',
    // tfjs packages are bundled by the page as they are; this checks our own code.
    external: ['@tensorflow/*'],
    plugins: [{
      name: 'record-node-builtins',
      setup(build) {
        build.onResolve({ filter: /.*/ }, (args) => {
          if (BUILTINS.has(args.path)) {
            found.push(`${args.path} (from ${args.importer.replace(ROOT, '')})`);
            return { path: args.path, external: true };
          }
          return undefined;
        });
      },
    }],
  });
  const text = result.outputFiles[0].text;
  for (const m of text.matchAll(/(?:from\s*|import\s*\(\s*|require\s*\(\s*)["'](node:[\w/]+)["']/g)) found.push(`${m[1]} (in the output)`);
  return found;
}

for (const entry of ['adapters/io/index.ts', 'adapters/quantize/index.ts', 'plugins/sam/index.ts']) {
  test(`${entry} bundles for the browser without any Node builtin`, async (t) => {
    t.deepEqual(await nodeImports(entry), []);
  });
}

test('the Node entries do import Node builtins (so the check above can fail)', async (t) => {
  t.true((await nodeImports('adapters/io/node_entry.ts')).some((s) => s.startsWith('node:fs')));
  t.true((await nodeImports('adapters/quantize/node_entry.ts')).some((s) => s.startsWith('node:fs')));
});
