/**
 * Hostile save targets: each must end in the expected error class with nothing written, and the
 * model already in the folder (if any) unchanged byte for byte. Counted like the other fuzz files.
 */
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { LOCK_FILE, writeModelDirAtomic } from '../../adapters/io/write_model_dir.ts';
import { saveQuantized } from '../../adapters/io/save_quantized.ts';
import { InputError, OptionError } from '../../plugins/core/errors.ts';
import { HANG, Tally, watchdog } from './helpers.ts';

let root: string;
test.before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'fuzz-save-'));
});
test.after.always(async () => {
  await rm(root, { recursive: true, force: true });
});

const files = { weights: new Uint8Array(8).fill(9), modelJson: (w: string) => JSON.stringify({ format: 'tfjs-sam-quantease/packed', weightsFile: w }) };

/** Every file under `dir` (following no links) with its bytes, as one digest. */
async function digest(dir: string): Promise<string> {
  const h = createHash('sha256');
  let names: string[];
  try {
    names = (await readdir(dir)).sort();
  } catch {
    return 'absent';
  }
  for (const n of names) {
    h.update(n);
    // Only regular files are read (reading a FIFO would block this test, as it would the library).
    const st = await lstat(path.join(dir, n));
    h.update(st.isFile() ? await readFile(path.join(dir, n)) : `${st.mode}`);
  }
  return h.digest('hex');
}

type Case = [label: string, setup: (dir: string) => Promise<string>, save: (target: string) => Promise<unknown>, error: typeof InputError | typeof OptionError];

test('hostile save targets: clear errors, nothing written, the previous model unchanged', async (t) => {
  const tally = new Tally();
  const write = (target: string, options = {}) => writeModelDirAtomic(target, files, options);
  const withModel = async (dir: string) => {
    await writeModelDirAtomic(dir, files);
    return dir;
  };
  const cases: Case[] = [
    ['empty path', async () => '', (d) => write(d), OptionError],
    ['a regular file', async (d) => { await mkdir(d); await writeFile(path.join(d, 'f'), 'x'); return path.join(d, 'f'); }, (d) => write(d), InputError],
    ['below a regular file', async (d) => { await mkdir(d); await writeFile(path.join(d, 'f'), 'x'); return path.join(d, 'f', 'sub'); }, (d) => write(d), InputError],
    ['a symlink to /dev/null', async (d) => { await mkdir(d); await symlink('/dev/null', path.join(d, 'l')); return path.join(d, 'l'); }, (d) => write(d), InputError],
    ['a dangling symlink', async (d) => { await mkdir(d); await symlink('nowhere', path.join(d, 'l')); return path.join(d, 'l'); }, (d) => write(d), InputError],
    ['a path with a NUL byte', async (d) => d + '\0x', (d) => write(d), InputError],
    ['model.json is a directory', async (d) => { await withModel(d); await rm(path.join(d, 'model.json')); await mkdir(path.join(d, 'model.json')); return d; }, (d) => write(d), InputError],
    ['model.json is a FIFO', async (d) => { await withModel(d); await rm(path.join(d, 'model.json')); execFileSync('mkfifo', [path.join(d, 'model.json')]); return d; }, (d) => write(d), InputError],
    ['model.json -> /dev/zero', async (d) => { await withModel(d); await rm(path.join(d, 'model.json')); await symlink('/dev/zero', path.join(d, 'model.json')); return d; }, (d) => write(d), InputError],
    ['model.json is a symlink loop', async (d) => { await withModel(d); await rm(path.join(d, 'model.json')); await symlink('model.json', path.join(d, 'model.json')); return d; }, (d) => write(d), InputError],
    ['model.json is not JSON', async (d) => { await withModel(d); await writeFile(path.join(d, 'model.json'), '{'); return d; }, (d) => write(d), InputError],
    ['a folder of other files', async (d) => { await mkdir(d); await writeFile(path.join(d, 'data.csv'), '1,2'); return d; }, (d) => write(d), InputError],
    ['a model plus another file', async (d) => { await withModel(d); await writeFile(path.join(d, 'notes.txt'), 'x'); return d; }, (d) => write(d), InputError],
    ['a save in progress (live lock)', async (d) => { await withModel(d); await writeFile(path.join(d, LOCK_FILE), String(process.ppid)); return d; }, (d) => write(d), InputError],
    ['overwrite: "yes"', withModel, (d) => write(d, { overwrite: 'yes' }), OptionError],
    ['unknown option', withModel, (d) => write(d, { atomic: false }), OptionError],
    ['files without weights', withModel, (d) => writeModelDirAtomic(d, { modelJson: () => '{}' } as never), OptionError],
    ['modelJson returns a number', withModel, (d) => writeModelDirAtomic(d, { weights: new Uint8Array(1), modelJson: () => 5 as never }), OptionError],
    ['saveQuantized without a payload', withModel, (d) => saveQuantized({ model: null } as never, d), InputError],
    ['saveQuantized with an unknown option', withModel, (d) => saveQuantized({ model: null } as never, d, { force: true } as never), OptionError],
  ];
  for (const [label, setup, save, error] of cases) {
    const dir = path.join(root, label.replace(/\W+/g, '_'));
    const target = await setup(dir);
    const before = await digest(dir);
    const r = await watchdog(save(target).then(() => null, (e: unknown) => e), 20_000);
    if (r === HANG) tally.add('hang', label);
    else if (r === null) tally.add('silent', label, 'saved without an error');
    else if (!(r instanceof error)) tally.add('crash', label, `${(r as Error)?.name}: ${(r as Error)?.message}`);
    else tally.add('clear', label);
    const after = await digest(dir);
    if (after !== before) tally.add('lost', label, 'the folder changed');
  }
  tally.check(t, 'hostile save targets');
});
