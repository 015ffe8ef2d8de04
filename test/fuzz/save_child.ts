/**
 * Child process of kill_save.test.ts: saves pre-encoded packed models into DIR with
 * writeModelDirAtomic, so the parent can kill it with SIGKILL at any moment.
 *   MODE=step:<name>  save model B once and SIGKILL itself right before step <name>
 *   MODE=loop         save A, B, A, B, ... forever, printing one line per completed save
 * FILES: JSON array of [jsonFile, binFile] pairs (model.json text with "weightsFile" to fill in).
 */
import { readFileSync } from 'node:fs';
import { writeModelDirAtomic } from '../../adapters/io/write_model_dir.ts';

const dir = process.env.DIR!;
const mode = process.env.MODE!;
const models = (JSON.parse(process.env.FILES!) as Array<[string, string]>).map(([j, b]) => ({
  json: JSON.parse(readFileSync(j, 'utf8')) as object,
  bin: new Uint8Array(readFileSync(b)),
}));
const files = (m: (typeof models)[number]) => ({ weights: m.bin, modelJson: (weightsFile: string) => JSON.stringify({ ...m.json, weightsFile }) });

if (mode.startsWith('step:')) {
  const at = mode.slice(5);
  await writeModelDirAtomic(dir, files(models[1]), { onStep: (s) => void (s === at && process.kill(process.pid, 'SIGKILL')) });
  process.stdout.write('done\n');
} else {
  process.stdout.write('ready\n');
  for (let i = 0; ; i++) {
    await writeModelDirAtomic(dir, files(models[i % 2]));
    process.stdout.write(`${i % 2 ? 'B' : 'A'}\n`);
  }
}
