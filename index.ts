/**
 * tfjs-sam-quantease: everything a training script or a web page imports, from one specifier.
 * The subpaths (`/sam`, `/quantease`, `/quantize`, `/io`) hold the same names; import from them
 * to make it plain which part a file uses. Node-only parts (`/backend`, the CLI) are not here.
 */
export * from './adapters/fit/index.ts';
export * from './plugins/quantease/index.ts';
export * from './adapters/quantize/index.ts';
export * from './adapters/io/index.ts';
