/**
 * Argument handling of the command line: every usage mistake is one line on stderr with exit
 * code 2 before anything is read; --version and --help; a backend that cannot load is exit 3.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { EXIT, main, packageVersion } from '../../../adapters/cli/cli.ts';
import { parseCliArgs, UsageError } from '../../../adapters/cli/args.ts';

const VERSION = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const BASE = ['quantize', 'no/such/model.json', '--calibration', 'no/such/calib.npy', '--out', 'no/such/out'];

async function inProcess(args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(args, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) });
  return { code, stdout, stderr };
}

test('--version and -v print the package version; --help the usage with the exit codes', async (t) => {
  t.is(packageVersion(), VERSION);
  for (const flag of ['--version', '-v']) {
    const r = await inProcess([flag]);
    t.deepEqual(r, { code: EXIT.ok, stdout: `${VERSION}\n`, stderr: '' });
  }
  const help = await inProcess(['-h']);
  t.is(help.code, 0);
  t.regex(help.stdout, /--backend <name> +node-gpu \| node \| wasm \| wasm-stock \| cpu/);
  t.regex(help.stdout, /Exit codes: 0 done, 1 bad input file or failure, 2 bad usage, 3 backend unavailable/);
});

/** [arguments, the one-line message]: all exit 2, and none reads a file (the paths do not exist). */
const USAGE_MISTAKES: Array<[string[], string]> = [
  [[], 'Missing command: quantize.'],
  [['quantise'], 'Unknown command "quantise": the only command is quantize.'],
  [['quantize'], 'Missing <model.json>.'],
  [['quantize', 'a.json', 'b.json'], 'Unexpected arguments: b.json.'],
  [['quantize', 'a.json', '--out', 'o'], 'Missing --calibration <file>.'],
  [['quantize', 'a.json', '--calibration', 'c.npy'], 'Missing --out <dir>.'],
  [[...BASE, '--backend', 'gpu'], '--backend must be one of node-gpu, node, wasm, wasm-stock, cpu. Received: "gpu".'],
  [[...BASE, '--backend'], "Option '--backend <value>' argument missing"],
  [[...BASE, '--method', 'awq'], '--method must be one of rtn, gptq, quantease. Received: "awq".'],
  [[...BASE, '--init', 'random'], '--init must be one of weights, gptq. Received: "random".'],
  [[...BASE, '--bits', 'four'], '--bits must be an integer. Received: "four".'],
  [[...BASE, '--bits', '3.5'], '--bits must be an integer. Received: "3.5".'],
  [[...BASE, '--outliers', ''], '--outliers must be a number. Received: "".'],
  [[...BASE, '--sweeps', 'NaN'], '--sweeps must be an integer. Received: "NaN".'],
  [[...BASE, '--structured-outliers'], '--structured-outliers needs --outliers <fraction>.'],
  [[...BASE, '--frobnicate'], "Unknown option '--frobnicate'. To specify a positional argument starting with a '-', place it at the end of the command after '--', as in '-- \"--frobnicate\""],
];

test('usage mistakes: one line, exit 2, the flag and the value named', async (t) => {
  for (const [args, message] of USAGE_MISTAKES) {
    const r = await inProcess(args);
    t.is(r.code, EXIT.usage, args.join(' '));
    t.is(r.stdout, '');
    t.true(r.stderr.startsWith(`error: ${message}`), `${args.join(' ')}\n${r.stderr}`);
    t.deepEqual(r.stderr.split('\n').slice(1), ['Run tfjs-sam-quantease --help for usage.', ''], r.stderr);
  }
});

test('parseCliArgs keeps only the options given, as quantizeModel options', (t) => {
  const c = parseCliArgs([...BASE, '--method', 'gptq', '--bits', '3', '--act-order', '--include', 'a*', '--include', 'b', '--quiet']);
  t.deepEqual(c, {
    kind: 'quantize', modelPath: 'no/such/model.json', calibrationPath: 'no/such/calib.npy', outDir: 'no/such/out',
    backend: undefined, quiet: true,
    options: { method: 'gptq', bits: 3, actOrder: true, include: ['a*', 'b'], progress: false },
  });
  const o = parseCliArgs([...BASE, '--outliers', '0.01', '--structured-outliers', '--backend', 'cpu']);
  t.is(o.kind === 'quantize' ? o.backend : null, 'cpu');
  t.deepEqual(o.kind === 'quantize' ? o.options : null, { outliers: { fraction: 0.01, structured: true }, progress: true });
  const d = parseCliArgs([...BASE, '--depthwise-bits', 'same']);
  t.deepEqual(d.kind === 'quantize' ? d.options : null, { depthwiseBits: 'same', progress: true });
  const d6 = parseCliArgs([...BASE, '--depthwise-bits', '6']);
  t.deepEqual(d6.kind === 'quantize' ? d6.options : null, { depthwiseBits: 6, progress: true });
  t.throws(() => parseCliArgs([...BASE, '--depthwise-bits', 'all']), { instanceOf: UsageError, message: /--depthwise-bits must be an integer/ });
  t.throws(() => parseCliArgs(['quantize']), { instanceOf: UsageError });
});

test('a missing input file is one line with exit 1, no stack trace', async (t) => {
  const r = await inProcess([...BASE, '--backend', 'cpu', '--quiet']);
  t.is(r.code, EXIT.input);
  t.regex(r.stderr, /^error: Cannot read no\/such\/model\.json: no such file[^\n]*\n$/);
});

test('a backend that cannot load is one line with exit 3', async (t) => {
  let nodeInstalled = true;
  try {
    createRequire(import.meta.url).resolve('@tensorflow/tfjs-node');
  } catch {
    nodeInstalled = false;
  }
  if (nodeInstalled) {
    t.pass('@tensorflow/tfjs-node is installed here: --backend node loads, nothing to refuse');
    return;
  }
  const r = await inProcess([...BASE, '--backend', 'node', '--quiet']);
  t.is(r.code, EXIT.backend);
  t.regex(r.stderr, /^error: Backend 'node' was requested by prefer=node but @tensorflow\/tfjs-node failed to load: [^\n]*\n$/);
});
