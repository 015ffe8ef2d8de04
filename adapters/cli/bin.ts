#!/usr/bin/env node
// Entry point of the `tfjs-sam-quantease` command (package.json "bin": dist/adapters/cli/bin.js,
// run by plain node). In this repository: `npx tsx adapters/cli/bin.ts ...`. Exit codes: cli.ts.
import { main } from './cli.ts';

process.exitCode = await main(process.argv.slice(2));
