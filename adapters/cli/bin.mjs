#!/usr/bin/env node
// Entry point of `tfjs-sam-quantease`: registers tsx's ESM loader (scoped to this import) and
// runs the TypeScript command line in this process. Exit code: 0 done, 1 bad input, 2 bad usage.
import { tsImport } from 'tsx/esm/api';

const { main } = await tsImport('./cli.ts', import.meta.url);
process.exitCode = await main(process.argv.slice(2));
