/**
 * The CLI never writes over its input: `--out` must not be the input model's folder (saving there
 * would replace the input model.json) nor a folder holding any of the input's weight shards
 * (saving cleans old weight files there). Paths are compared after resolving symlinks.
 */
import { realpath } from 'node:fs/promises';
import * as path from 'node:path';
import { InputError } from '../../plugins/core/errors.ts';
import { readBounded, resolveInside, MAX_MODEL_JSON_BYTES } from '../io/read_bounded.ts';

/** The real path of `p`, or of its nearest existing ancestor joined with the rest. */
async function real(p: string): Promise<string> {
  const abs = path.resolve(p);
  try {
    return await realpath(abs);
  } catch {
    const parent = path.dirname(abs);
    return parent === abs ? abs : path.join(await real(parent), path.basename(abs));
  }
}

/** Throws InputError when saving into `outDir` could overwrite or delete a file of the model `modelJson`. */
export async function checkOutIsNotInput(modelJson: string, outDir: string): Promise<void> {
  const inputJson = await real(modelJson);
  const inputDir = path.dirname(inputJson);
  const out = await real(outDir);
  if (out === inputDir || path.join(out, 'model.json') === inputJson || out === inputJson) {
    throw new InputError(`--out ${outDir} is the input model's folder: saving there would replace the input model. Choose another folder.`);
  }
  let paths: string[] = [];
  try {
    const json = JSON.parse(new TextDecoder().decode(await readBounded(modelJson, { maxBytes: MAX_MODEL_JSON_BYTES })));
    paths = (json?.weightsManifest ?? []).flatMap((g: { paths?: unknown }) => (Array.isArray(g?.paths) ? g.paths : []));
  } catch {
    return; // an unreadable input fails with its own message when it is loaded
  }
  for (const p of paths) {
    if (typeof p !== 'string') continue;
    let shard: string;
    try {
      shard = await real(resolveInside(inputDir, p, 'weight shard'));
    } catch {
      continue; // a shard path outside the folder fails when the model is loaded
    }
    if (path.dirname(shard) === out) {
      throw new InputError(`--out ${outDir} holds the input's weight shard ${p}: saving there could replace it. Choose another folder.`);
    }
  }
}
