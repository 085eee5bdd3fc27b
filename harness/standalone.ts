// A suite run by hand (`node dist/suites/exec/exec.js`, as root): the ffi
// target on this machine's kernel, profiles probed here, TAP on stdout,
// kselftest's exit status.
import { FfiBackend } from './ffi-backend.js';
import { probeAll } from './profiles.js';
import { runSuite, type SuiteSpec } from './suite.js';
import { Target } from './target.js';

export async function runStandalone(spec: SuiteSpec): Promise<void> {
  const target = new Target(new FfiBackend());
  const required = (process.env.OMAYEXEC_EXPECT ?? '').split(',').filter(Boolean);
  const profiles = await probeAll(target, { freshBoot: false });
  process.exitCode = await runSuite(spec, { target, profiles, required, freshBoot: false, overrides: {} }, (c) => process.stdout.write(c));
}
