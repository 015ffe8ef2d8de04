/**
 * This folder is ready to become a package of its own: every import in it (kernels, tests) stays
 * inside the folder or names a tfjs package, ava, or a Node builtin.
 */
import test from 'ava';
import { readFile, readdir } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const FOLDER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

test('imports stay inside adapters/backend/wasm_training or name tfjs, ava or node:', async (t) => {
  const files = (await readdir(FOLDER, { recursive: true })).filter((f) => f.endsWith('.ts'));
  t.true(files.length >= 12, files.join(', '));
  const outside: string[] = [];
  let checked = 0;
  for (const f of files) {
    const source = await readFile(path.join(FOLDER, f), 'utf8');
    for (const [, spec] of source.matchAll(/(?:^|\n)\s*(?:import|export)[^'"\n]*?(?:from\s+)?['"]([^'"]+)['"]/g)) {
      const ok = spec.startsWith('.')
        ? path.resolve(path.dirname(path.join(FOLDER, f)), spec).startsWith(FOLDER + path.sep)
        : /^(@tensorflow\/tfjs-(core|backend-wasm|backend-cpu|layers)|ava|node:.*)$/.test(spec);
      checked++;
      if (!ok) outside.push(`${f}: ${spec}`);
    }
  }
  t.true(checked > 30, `only ${checked} imports found: the pattern no longer matches`);
  t.deepEqual(outside, []);
});
