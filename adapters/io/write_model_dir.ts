/**
 * writeModelDirAtomic (Node): saves model.json + one weights file into a folder so that the
 * previous model stays loadable until the new one is complete, under kill -9 at any point.
 *
 * Why this design: model.json is the commit point, and the weights file it points to is never
 * overwritten. The new weights go to a name the current model.json does not use ("weights.bin",
 * or "weights.<sha256 prefix>.bin" when the current model uses "weights.bin"), written to a
 * temporary file, fsynced and renamed; then model.json is written the same way and renamed over
 * the old one (rename(2) replaces a file atomically on POSIX). A reader, or a crash, sees either
 * the old model.json with its old, untouched weights or the new model.json with complete new
 * weights. When the staged name was used, a second commit follows: weights.bin (no longer used by
 * anyone) becomes a hard link to the new weights and a second model.json pointing at it is
 * renamed in, so a finished save always leaves model.json + weights.bin, as tfjs-node does.
 * Swapping two folders instead would leave a moment with no folder at all (Linux's
 * RENAME_EXCHANGE is not reachable from Node), and a symlinked folder would change what users see.
 *
 * Leftovers: temporaries are named ".<file>.tmp-<pid>-<random>"; a save takes a lock file
 * (".model-save.lock", holding the pid, created atomically with link(2)); under the lock,
 * temporaries of dead processes and weights files no model.json refers to are removed, so
 * crashed saves never pile up. A lock left by a killed process is taken over when its pid is dead.
 *
 * Refusals (InputError, before anything is written): the folder is a file; "model.json" is a
 * directory or not a regular file; the folder holds anything else than a saved model (a
 * model.json with its weight files, our temporaries) unless `overwrite: true`. Files that are not
 * ours are never deleted, even with `overwrite`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { link, lstat, mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import * as path from 'node:path';
import { InputError, OptionError, describeValue } from '../../plugins/core/errors.ts';
import { rejectUnknownKeys } from '../../plugins/core/validate.ts';
import { readLocalFile } from './read_node.ts';
import { MAX_MODEL_JSON_BYTES } from './read_bounded.ts';

export const MODEL_JSON = 'model.json';
export const LOCK_FILE = '.model-save.lock';
/** A temporary of ours: ".<name>.tmp-<pid>-<random>". */
const TEMP = /^\.(.+)\.tmp-(\d+)-[0-9a-f]+$/;
/** A weights file this writer may have created: "weights.bin" or "weights.<hex>[-n].bin". */
const OUR_WEIGHTS = /^weights(\.[0-9a-f]{16}(-\d+)?)?\.bin$/;
/** The weights name a folder ends with after every successful save. */
const FINAL_WEIGHTS = 'weights.bin';
/** A temporary of a live process older than this is stale anyway (pid reuse). */
const STALE_TEMP_MS = 60 * 60 * 1000;

export interface ModelDirFiles {
  /** Bytes of the weights file. */
  weights: Uint8Array;
  /** The text of model.json, given the weights file name the writer chose. */
  modelJson: (weightsFile: string) => string;
}

export interface WriteModelDirOptions {
  /** Write even when the folder holds files that are not part of a saved model (they are kept). Default false. */
  overwrite?: boolean;
  /** Called before each step (lock, clean, weights, rename-weights, json, commit, relink, json2, commit2, cleanup, unlock); for fault-injection tests. */
  onStep?: (step: string) => void | Promise<void>;
}

export interface WrittenModelDir {
  modelJson: string;
  weights: string;
  weightsBytes: number;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: string }).code === 'EPERM';
  }
}

function tempName(file: string): string {
  return `.${file}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
}

/**
 * Writes `bytes` to a new `file`; with `sync`, fsyncs it, so that after a power loss a renamed
 * file never turns out empty. (The folder itself is not fsynced, as write-file-atomic does not:
 * after a power loss the last rename may be undone, which leaves the previous complete model.)
 */
async function writeNew(file: string, bytes: Uint8Array | string, sync: boolean): Promise<void> {
  const fh = await open(file, 'wx');
  try {
    await fh.writeFile(bytes);
    if (sync) await fh.sync();
  } finally {
    await fh.close();
  }
}

/** The files a parsed model.json refers to (packed "weightsFile", tfjs "weightsManifest" paths), or null when it is not a model. */
export function referencedFiles(json: unknown): string[] | null {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return null;
  const o = json as Record<string, unknown>;
  const refs: string[] = [];
  if (typeof o.format === 'string' && o.format.startsWith('tfjs-sam-quantease/')) {
    if (typeof o.weightsFile === 'string') refs.push(o.weightsFile);
    return refs;
  }
  if (typeof o.modelTopology !== 'object' || o.modelTopology === null) return null;
  if (o.weightsManifest === undefined) return refs;
  if (!Array.isArray(o.weightsManifest)) return null;
  for (const g of o.weightsManifest) {
    const paths = (g as { paths?: unknown })?.paths;
    if (!Array.isArray(paths)) return null;
    for (const p of paths) if (typeof p === 'string') refs.push(p);
  }
  return refs;
}

/** The model.json of `dir`: its referenced files (top-level names), or null (absent or not a model). Throws when it is not a regular file. */
async function currentModel(dir: string): Promise<{ exists: boolean; refs: Set<string> | null }> {
  const file = path.join(dir, MODEL_JSON);
  let st;
  try {
    st = await stat(file);
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') return { exists: false, refs: null };
    throw new InputError(`Cannot save into ${dir}: ${file} cannot be inspected (${(err as Error).message}).`);
  }
  if (!st.isFile()) throw new InputError(`Cannot save into ${dir}: ${file} is ${st.isDirectory() ? 'a directory' : 'not a regular file'}; remove it first. Nothing was written.`);
  let refs: string[] | null = null;
  try {
    const bytes = await readLocalFile(file, { maxBytes: MAX_MODEL_JSON_BYTES });
    refs = referencedFiles(JSON.parse(new TextDecoder().decode(bytes)));
  } catch {
    refs = null; // unreadable or not JSON: not a model of ours
  }
  return { exists: true, refs: refs && new Set(refs.map((r) => r.split(/[\\/]/)[0]).filter((r) => r !== '' && r !== '.' && r !== '..')) };
}

/** Takes the folder's lock; `stale` says a killed save's lock was taken over (its leftovers are ours to clean). */
async function takeLock(dir: string): Promise<{ lock: string; stale: boolean }> {
  const lock = path.join(dir, LOCK_FILE);
  let stale = false;
  for (let attempt = 0; attempt < 2; attempt++) {
    const tmp = path.join(dir, tempName(LOCK_FILE));
    await writeNew(tmp, String(process.pid), false);
    try {
      await link(tmp, lock); // atomic: fails with EEXIST when someone holds the lock
      return { lock, stale };
    } catch (err) {
      if ((err as { code?: string }).code !== 'EEXIST') throw err;
    } finally {
      await unlink(tmp).catch(() => {});
    }
    let holder = NaN;
    try {
      holder = Number(new TextDecoder().decode(await readLocalFile(lock, { maxBytes: 64 })).trim());
    } catch {
      // unreadable lock: treated as held by a live process below
    }
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && !alive(holder)) {
      await unlink(lock).catch(() => {}); // left by a killed save
      stale = true;
      continue;
    }
    throw new InputError(
      `Cannot save into ${dir}: another save is in progress (lock ${lock}, pid ${Number.isNaN(holder) ? '?' : holder}). ` +
        'Wait for it, or remove the lock file if no such process runs.',
    );
  }
  throw new InputError(`Cannot save into ${dir}: could not take the lock ${lock}.`);
}

/** Writes model.json to a temporary, fsyncs it, and renames it over model.json: the commit point. */
async function commit(dir: string, json: string, made: string[], step: (s: string) => Promise<void>, n: string): Promise<void> {
  await step('json' + n);
  const tmpJson = path.join(dir, tempName(MODEL_JSON));
  made.push(tmpJson);
  await writeNew(tmpJson, json, true);
  await currentModel(dir); // model.json must still be a regular file (or absent) right before the commit
  await step('commit' + n);
  await rename(tmpJson, path.join(dir, MODEL_JSON));
}

function checkOptions(options: WriteModelDirOptions): void {
  rejectUnknownKeys(options, ['overwrite', 'onStep'], 'writeModelDirAtomic');
  if (options.overwrite !== undefined && typeof options.overwrite !== 'boolean') {
    throw new OptionError(`\`overwrite\` must be true or false. Received: overwrite=${describeValue(options.overwrite)}.`);
  }
  if (options.onStep !== undefined && typeof options.onStep !== 'function') {
    throw new OptionError(`\`onStep\` must be a function. Received: onStep=${describeValue(options.onStep)}.`);
  }
}

/**
 * Saves `files` into `dir` (created if missing) as described at the top of this file.
 * @example await writeModelDirAtomic('out/m', {weights: bin, modelJson: (w) => JSON.stringify({...json, weightsFile: w})});
 */
export async function writeModelDirAtomic(dir: string, files: ModelDirFiles, options: WriteModelDirOptions = {}): Promise<WrittenModelDir> {
  if (typeof dir !== 'string' || dir === '') throw new OptionError(`\`dir\` must be a non-empty string. Received: dir=${describeValue(dir)}.`);
  if (!(files?.weights instanceof Uint8Array) || typeof files.modelJson !== 'function') {
    throw new OptionError('`files` must be {weights: Uint8Array, modelJson: (weightsFile) => string}.');
  }
  checkOptions(options);
  const step = async (s: string) => void (await options.onStep?.(s));
  const existing = await lstat(dir).catch(() => null);
  if (existing && !(await stat(dir).then((s) => s.isDirectory(), () => false))) {
    throw new InputError(`Cannot save into ${dir}: it exists and is not a folder.`);
  }
  try {
    await mkdir(dir, { recursive: true });
  } catch (err) {
    throw new InputError(`Cannot save into ${dir}: ${(err as Error).message}`);
  }
  await step('lock');
  const { lock, stale } = await takeLock(dir);
  const made: string[] = []; // files this call created that no committed model.json refers to yet
  try {
    const before = await currentModel(dir);
    const names = await readdir(dir);
    const refs = before.refs ?? new Set<string>();
    // Weights files without a model.json of ours are leftovers of a killed save only when that
    // save's lock was still there; otherwise they are someone else's files.
    const oursByName = before.refs !== null || stale;
    const foreign = names.filter((n) =>
      n !== LOCK_FILE && !TEMP.test(n) && !(oursByName && OUR_WEIGHTS.test(n)) && !(n === MODEL_JSON && before.refs) && !refs.has(n));
    if (foreign.length && !options.overwrite) {
      const list = foreign.slice(0, 5).join(', ') + (foreign.length > 5 ? `, ... (${foreign.length} in all)` : '');
      throw new InputError(
        `Refusing to save into ${dir}: it holds files that are not part of a saved model (${list}). ` +
          'Choose an empty or new folder, or pass overwrite: true (other files are kept).',
      );
    }
    await step('clean');
    const now = Date.now();
    for (const n of names) {
      const m = TEMP.exec(n);
      if (!m) continue;
      const pid = Number(m[2]);
      const old = await stat(path.join(dir, n)).then((s) => now - s.mtimeMs > STALE_TEMP_MS, () => false);
      if (!alive(pid) || old) await unlink(path.join(dir, n)).catch(() => {});
    }
    const hash = createHash('sha256').update(files.weights).digest('hex').slice(0, 16);
    const candidates = [FINAL_WEIGHTS, `weights.${hash}.bin`];
    for (let i = 1; candidates.length < 2 + refs.size + 1; i++) candidates.push(`weights.${hash}-${i}.bin`);
    let weightsName = candidates.find((c) => !refs.has(c))!;
    const modelJson = (name: string): string => {
      const json = files.modelJson(name);
      if (typeof json !== 'string') throw new OptionError('`files.modelJson` must return a string.');
      return json;
    };

    await step('weights');
    const tmpWeights = path.join(dir, tempName(weightsName));
    made.push(tmpWeights);
    await writeNew(tmpWeights, files.weights, true);
    await step('rename-weights');
    await rename(tmpWeights, path.join(dir, weightsName));
    made[made.indexOf(tmpWeights)] = path.join(dir, weightsName);
    await commit(dir, modelJson(weightsName), made, step, '');
    made.length = 0;

    if (weightsName !== FINAL_WEIGHTS) {
      // The old model used weights.bin and is gone now: give the new weights that name too (a hard
      // link, no copy) and commit a second model.json pointing at it, so a folder always ends as
      // model.json + weights.bin. Without hard links (some file systems) the staged name stays.
      const staged = weightsName;
      const tmpLink = path.join(dir, tempName(FINAL_WEIGHTS));
      await step('relink');
      const linked = await link(path.join(dir, staged), tmpLink).then(() => true, () => false);
      if (linked) {
        made.push(tmpLink);
        await rename(tmpLink, path.join(dir, FINAL_WEIGHTS));
        made[made.indexOf(tmpLink)] = path.join(dir, FINAL_WEIGHTS);
        await commit(dir, modelJson(FINAL_WEIGHTS), made, step, '2');
        made.length = 0;
        weightsName = FINAL_WEIGHTS;
      }
    }
    const weights = path.join(dir, weightsName);

    await step('cleanup');
    for (const n of await readdir(dir)) {
      if (n === weightsName || n === MODEL_JSON || n === LOCK_FILE) continue;
      // The old model's own shards go with it; only weight files (*.bin) are ever deleted.
      if ((oursByName && OUR_WEIGHTS.test(n)) || (refs.has(n) && n.endsWith('.bin'))) {
        const p = path.join(dir, n);
        if (await lstat(p).then((s) => s.isFile() || s.isSymbolicLink(), () => false)) await unlink(p).catch(() => {});
      }
    }
    return { modelJson: path.join(dir, MODEL_JSON), weights, weightsBytes: files.weights.byteLength };
  } catch (err) {
    for (const f of made) await unlink(f).catch(() => {});
    if (err instanceof InputError || err instanceof OptionError) throw err;
    throw new InputError(`Cannot save into ${dir}: ${(err as Error).message}`);
  } finally {
    try {
      await step('unlock');
    } finally {
      await unlink(lock).catch(() => {});
    }
  }
}
