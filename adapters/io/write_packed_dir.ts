/**
 * Node: writes a packed model's two files into a folder. Placeholder until the whole-model atomic
 * writer (write_model_dir.ts, helper io-rel) lands: each file is written to a temporary and renamed.
 */
import { mkdir, rename, unlink, writeFile } from 'node:fs/promises';
import * as path from 'node:path';

export interface WrittenPackedDir {
  modelJson: string;
  weights: string;
  weightsBytes: number;
}

export async function writePackedDir(dir: string, bin: Uint8Array, jsonText: (weightsFile: string) => string, _options: { overwrite: boolean }): Promise<WrittenPackedDir> {
  await mkdir(dir, { recursive: true });
  const modelJson = path.join(dir, 'model.json');
  const weights = path.join(dir, 'weights.bin');
  const tag = `.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`;
  try {
    await writeFile(weights + tag, bin);
    await writeFile(modelJson + tag, jsonText('weights.bin'));
    await rename(weights + tag, weights);
    await rename(modelJson + tag, modelJson);
  } catch (err) {
    await Promise.all([unlink(weights + tag).catch(() => {}), unlink(modelJson + tag).catch(() => {})]);
    throw err;
  }
  return { modelJson, weights, weightsBytes: bin.byteLength };
}
