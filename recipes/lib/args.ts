/**
 * Command-line flags shared by every recipe.
 *
 * API (stable):
 *   parseArgs(argv: string[], defaults: {name: string, epochs?: number, seed?: number}): RecipeArgs
 *   isMain(import.meta.url): boolean           true when this file is the script being run
 *   runMain(main): void                         calls main(process.argv.slice(2)); prints errors, exit code 1
 *
 * Flags: `--quick` (tiny run for CI), `--out <dir>` (default `out/<name>`), `--seed <int>` (default 0
 * or `defaults.seed`), `--epochs <int>` (default `defaults.epochs`, or undefined). Both `--out dir` and
 * `--out=dir` forms work. Unknown flags and bad values throw an Error naming the flag and the value;
 * `--help` throws an Error whose message is the usage text.
 *
 * @example
 *   const args = parseArgs(process.argv.slice(2), {name: 'eval_label_noise', epochs: 8});
 *   // args = {quick: false, out: 'out/eval_label_noise', seed: 0, epochs: 8, explicit: Set{}}
 */
import {resolve} from 'node:path';
import {pathToFileURL} from 'node:url';

export interface RecipeArgs {
  /** Tiny configuration for smoke tests. */
  quick: boolean;
  /** Output folder for report.md and plots. */
  out: string;
  /** Base seed; recipes derive every other seed from it and print them. */
  seed: number;
  /** Epochs (or iterations) override; undefined when neither given nor defaulted. */
  epochs: number | undefined;
  /** Names of the flags given explicitly on the command line (e.g. 'epochs'), so quick mode can respect them. */
  explicit: Set<string>;
}

export interface ArgDefaults {
  /** Recipe name, used for the default output folder `out/<name>`. */
  name: string;
  epochs?: number;
  seed?: number;
}

export function usage(name: string): string {
  return `Usage: npx tsx recipes/${name}.ts [--quick] [--out <dir>] [--seed <int>] [--epochs <int>]\n` +
      '  --quick         tiny run (seconds), as used by the test suite\n' +
      `  --out <dir>     output folder for report.md and plots (default out/${name})\n` +
      '  --seed <int>    base seed (default 0)\n' +
      '  --epochs <int>  training epochs / iterations (recipe-specific default)';
}

function parseInt0(flag: string, raw: string | undefined, min: number, name: string): number {
  if (raw === undefined || raw.startsWith('--')) {
    throw new Error(`\`${flag}\` needs a value. Received: nothing.\n${usage(name)}`);
  }
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min) {
    throw new Error(`\`${flag}\` must be an integer >= ${min}. Received: ${flag} ${raw}.`);
  }
  return v;
}

/** Parses recipe flags; throws an Error with a clear message on unknown flags or bad values. */
export function parseArgs(argv: string[], defaults: ArgDefaults): RecipeArgs {
  const out: RecipeArgs = {
    quick: false,
    out: `out/${defaults.name}`,
    seed: defaults.seed ?? 0,
    epochs: defaults.epochs,
    explicit: new Set(),
  };
  for (let i = 0; i < argv.length; i++) {
    let flag = argv[i];
    let value: string | undefined;
    const eq = flag.indexOf('=');
    if (flag.startsWith('--') && eq > 0) {
      value = flag.slice(eq + 1);
      flag = flag.slice(0, eq);
    }
    const next = (): string | undefined => value ?? argv[++i];
    switch (flag) {
      case '--quick':
        if (value !== undefined) throw new Error(`\`--quick\` takes no value. Received: --quick=${value}.`);
        out.quick = true;
        break;
      case '--out': {
        const v = next();
        if (v === undefined || v === '' || v.startsWith('--')) {
          throw new Error(`\`--out\` needs a folder. Received: ${v === undefined ? 'nothing' : `'${v}'`}.`);
        }
        out.out = v;
        break;
      }
      case '--seed':
        out.seed = parseInt0('--seed', next(), 0, defaults.name);
        break;
      case '--epochs':
        out.epochs = parseInt0('--epochs', next(), 1, defaults.name);
        break;
      case '--help':
      case '-h':
        throw new Error(usage(defaults.name));
      default:
        throw new Error(`Unknown flag '${argv[i]}'. Allowed: --quick, --out <dir>, --seed <int>, --epochs <int>.\n` +
            usage(defaults.name));
    }
    out.explicit.add(flag.slice(2));
  }
  return out;
}

/** True when the module with this `import.meta.url` is the script node/tsx was started with. */
export function isMain(importMetaUrl: string): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  return importMetaUrl === pathToFileURL(resolve(entry)).href;
}

/** Runs a recipe's main(argv) from the command line: prints a failure's message and exits 1. */
export function runMain(main: (argv: string[]) => Promise<unknown>): void {
  main(process.argv.slice(2)).catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  });
}
