// Entry of the runner on this machine's kernel (direct mode, and the board
// bundle): the ffi target, the results stream on stdout. The caller puts it
// in a private mount namespace and restores the sysctls afterwards.
//   node direct-runner.js RUN_CONFIG.json
import { readFileSync, writeSync } from 'node:fs';
import { EXIT } from '../vm/errors.js';
import { FfiBackend } from './ffi-backend.js';
import type { RunConfig } from './protocol.js';
import { Runner } from './runner.js';
import { preferBundledTap } from './suite.js';
import { Target } from './target.js';

async function main(): Promise<number> {
  const cfgPath = process.argv[2];
  if (!cfgPath) {
    process.stderr.write('usage: direct-runner.js RUN_CONFIG.json\n');
    return EXIT.badInput;
  }
  const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as RunConfig;
  preferBundledTap(); // dist/board's runner has tap inside; dist/harness's loads the bundle beside it
  let runner: Runner | null = null;
  const target = new Target(new FfiBackend((lines) => runner?.kernelLog(lines)));
  // Each line is written before the next syscall: kernel signs stay in order.
  runner = new Runner(target, cfg, (line) => writeSync(1, line + '\n'), { describe: { target: 'ffi' } });
  return runner.run();
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    process.stderr.write(`runner: ${e.message}\n`);
    process.exit(EXIT.harness);
  },
);
