// Runs every suite through both targets on this machine's kernel and prints
// what each reported, as JSON: the ffi target (koffi, in this process) and
// the executor (a local child over pipes). Started by test/parity.host.test.ts in
// a private mount namespace, as root.
import { FfiBackend } from '../harness/ffi-backend.js';
import { startLocalExecutor } from '../harness/local-executor.js';
import { probeAll } from '../harness/profiles.js';
import { runSuite } from '../harness/suite.js';
import { Target } from '../harness/target.js';
import { SUITE_IDS, SUITE_MODULES } from '../suites/index.js';

interface Reported {
  suite: string;
  exit: number;
  lines: string[];
}

async function runAll(target: Target): Promise<Reported[]> {
  const profiles = await probeAll(target, { freshBoot: false });
  const out: Reported[] = [];
  for (const id of SUITE_IDS) {
    const spec = await SUITE_MODULES[id]!();
    let tap = '';
    const exit = await runSuite(spec, { target, profiles, required: [], freshBoot: false, overrides: {} }, (c) => (tap += c));
    // Case lines and plans only: diagnostics hold timings and metrics.
    out.push({ suite: id, exit, lines: tap.split('\n').filter((l) => /^(ok|not ok|1\.\.)/.test(l)) });
  }
  return out;
}

const ffi = await runAll(new Target(new FfiBackend()));
const local = await startLocalExecutor();
const executor = await runAll(new Target(local.backend));
await local.stop();
process.stdout.write(JSON.stringify({ ffi, executor }) + '\n');
