/**
 * Finds a Chromium to drive, so that `npm install && npm test` needs nothing installed by hand:
 *
 * 1. `CHROMIUM_PATH` when set;
 * 2. Debian's `/usr/bin/chromium` when present;
 * 3. else the Chromium inside the `@sparticuz/chromium` dev dependency (147; a headless build for
 *    AWS Lambda). Its brotli files are unpacked once into node_modules/.cache (about 200 MB, a few
 *    seconds; a temporary folder renamed into place, so concurrent runs never see half a binary).
 *    Outside Lambda the package itself leaves its own libnss3/libnspr4 (`al2023.tar.br`) packed
 *    and relies on the system's; here `ldd` says whether the system has them, and when it does
 *    not, the bundled ones are unpacked too and put on the browser's LD_LIBRARY_PATH (only the
 *    browser's environment, never this process's).
 *
 * Node only; nothing is downloaded.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile, chmod } from 'node:fs/promises';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliDecompressSync } from 'node:zlib';

/** Debian's package path. */
export const DEBIAN_CHROMIUM = '/usr/bin/chromium';
/** A Chromium binary to use, or `bundled` for the npm package's even where Debian's is installed. */
export const CHROMIUM_ENV_VAR = 'CHROMIUM_PATH';

export interface ChromiumInstall {
  executablePath: string;
  /** Where it came from, for messages: `CHROMIUM_PATH`, `debian`, `@sparticuz/chromium 147.0.0`. */
  source: string;
  /** Extra environment for the browser process (fonts, bundled libraries). */
  env: Record<string, string>;
  /** Extra flags this build needs (WebGL through its bundled SwiftShader). */
  args: string[];
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Shared libraries `ldd` cannot find for `binary` (with `libraryPath` first on the search path). */
export function missingLibraries(binary: string, libraryPath?: string): string[] {
  const env = { ...process.env, ...(libraryPath ? { LD_LIBRARY_PATH: [libraryPath, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') } : {}) };
  let out: string;
  try {
    out = execFileSync('ldd', [binary], { env, encoding: 'utf8' });
  } catch {
    return []; // no ldd (not glibc Linux): let the launch itself say what is wrong
  }
  return out.split('\n').filter((l) => l.includes('not found')).map((l) => l.trim().split(/\s+/)[0]);
}

/** Unpacks `<name>.tar.br` into `dir` with the system's tar (Debian: always present). */
async function untarBrotli(file: string, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const tar = path.join(dir, path.basename(file, '.br'));
  await writeFile(tar, brotliDecompressSync(await readFile(file)));
  execFileSync('tar', ['-xf', tar, '-C', dir]);
  await rm(tar);
}

/** The package's bin/ folder (its exports map hides package.json; its main file is build/cjs/index.cjs). */
function sparticuzBin(): { bin: string; version: string } {
  const main = createRequire(import.meta.url).resolve('@sparticuz/chromium');
  const root = path.resolve(path.dirname(main), '..', '..');
  const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
  return { bin: path.join(root, 'bin'), version };
}

/** Unpacks the npm package's Chromium (once) and returns how to run it here. */
export async function bundledChromium(): Promise<ChromiumInstall> {
  const { bin, version } = sparticuzBin();
  const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
  const dir = path.join(repo, 'node_modules', '.cache', 'tfjs-sam-quantease', `chromium-${version}`);
  const executablePath = path.join(dir, 'chromium');
  if (!existsSync(executablePath)) {
    const partial = `${dir}.tmp-${process.pid}`;
    await rm(partial, { recursive: true, force: true });
    await mkdir(partial, { recursive: true });
    await writeFile(path.join(partial, 'chromium'), brotliDecompressSync(await readFile(path.join(bin, 'chromium.br'))));
    await chmod(path.join(partial, 'chromium'), 0o755);
    await untarBrotli(path.join(bin, 'swiftshader.tar.br'), partial); // libEGL/libGLESv2 beside the binary
    await untarBrotli(path.join(bin, 'fonts.tar.br'), path.join(partial, 'fonts'));
    await untarBrotli(path.join(bin, 'al2023.tar.br'), path.join(partial, 'al2023'));
    try {
      await rename(partial, dir);
    } catch (err) {
      await rm(partial, { recursive: true, force: true });
      if (!existsSync(executablePath)) throw err; // otherwise another process finished first
    }
  }
  const env: Record<string, string> = { FONTCONFIG_PATH: path.join(dir, 'fonts') };
  const bundledLibs = path.join(dir, 'al2023', 'lib');
  const forceBundledLibs = process.env.TFJS_SAM_QUANTEASE_CHROMIUM_LIBS === 'bundled';
  if (forceBundledLibs || missingLibraries(executablePath).length > 0) {
    const stillMissing = missingLibraries(executablePath, bundledLibs);
    if (stillMissing.length > 0) {
      throw new Error(`The bundled Chromium needs shared libraries this system lacks: ${stillMissing.join(', ')}.`);
    }
    env.LD_LIBRARY_PATH = [bundledLibs, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
  }
  return {
    executablePath,
    source: `@sparticuz/chromium ${version}${env.LD_LIBRARY_PATH ? ' with its own libnss3/libnspr4' : ''}`,
    env,
    args: ['--use-gl=angle', '--use-angle=swiftshader', '--enable-unsafe-swiftshader'],
  };
}

/** The Chromium to use here, in the order of the header. */
export async function findChromium(): Promise<ChromiumInstall> {
  const forced = process.env[CHROMIUM_ENV_VAR];
  if (forced && forced !== 'bundled') return { executablePath: forced, source: CHROMIUM_ENV_VAR, env: {}, args: [] };
  if (forced !== 'bundled' && isExecutable(DEBIAN_CHROMIUM)) return { executablePath: DEBIAN_CHROMIUM, source: 'debian', env: {}, args: [] };
  return bundledChromium();
}
