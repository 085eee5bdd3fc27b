#!/usr/bin/env node
// Entry point: the compiled CLI lives in dist/ (npm ci / npm run build make it).
import { existsSync } from 'node:fs';
const cli = new URL('../dist/vm/cli.js', import.meta.url);
if (!existsSync(cli)) {
  console.error('omayexec-conformance: not built yet; run `npm ci` (or `npm run build`) in the project first');
  process.exit(6); // EXIT.harness (vm/errors.ts), which cannot be imported before the build
}
const { main } = await import(cli.href);
process.exitCode = await main(process.argv.slice(2));
