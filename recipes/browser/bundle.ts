/**
 * Bundles the example page (page.ts and everything it imports: tfjs, the backends, loadQuantized)
 * into one ES module for the browser with esbuild, and fails if any of our own files pulls in a
 * Node builtin: the loader must stay browser-safe.
 */
import * as esbuild from 'esbuild';
import { builtinModules } from 'node:module';
import { stat } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');

const NODE_BUILTINS = new Set([...builtinModules, ...builtinModules.map((m) => `node:${m}`)]);

/**
 * Fails the bundle when our own code imports a Node builtin. Inside node_modules, a package's
 * `browser` field may map a builtin to an empty module (tfjs does this for fs, worker_threads,
 * ...); esbuild applies that mapping itself and fails on any builtin that is not mapped.
 */
const noNodeBuiltins: esbuild.Plugin = {
  name: 'no-node-builtins',
  setup(build) {
    build.onResolve({ filter: /^(node:)?[a-z_/]+$/ }, (args) => {
      if (!NODE_BUILTINS.has(args.path) || args.importer.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
      return {
        errors: [{
          text: `${path.relative(ROOT, args.importer)} imports the Node builtin "${args.path}": the browser bundle must not ` +
            `depend on Node APIs (move Node-only code behind a runtime check and a non-literal dynamic import, or into a Node-only module).`,
        }],
      };
    });
  },
};

export interface BundleResult {
  /** Size of page.js in bytes. */
  bytes: number;
  /** Input files in the bundle, relative to the repository root. */
  inputs: string[];
}

/** The example page's entry point. */
export const PAGE_ENTRY = path.join(HERE, 'page.ts');

/**
 * Bundles `entry` (default page.ts) into outDir/page.js (+ page.js.map) for the browser.
 * Throws an Error listing esbuild's messages, e.g. when our code imports a Node builtin.
 */
export async function bundlePage(outDir: string, minify = true, entry = PAGE_ENTRY): Promise<BundleResult> {
  const outfile = path.join(outDir, 'page.js');
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2020',
    outfile,
    minify,
    sourcemap: true,
    metafile: true,
    logLevel: 'silent',
    plugins: [noNodeBuiltins],
    define: { 'process.env.NODE_ENV': '"production"' },
  }).catch((err: { errors?: esbuild.Message[] }) => {
    const messages = (err.errors ?? []).map((m) => (m.location ? `${m.location.file}:${m.location.line}: ` : '') + m.text);
    throw new Error(`Bundling ${path.relative(ROOT, entry)} for the browser failed:\n${messages.join('\n') || String(err)}`);
  });
  return { bytes: (await stat(outfile)).size, inputs: Object.keys(result.metafile.inputs) };
}
