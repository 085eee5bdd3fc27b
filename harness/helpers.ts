// Run the project's small static helpers (harness/helpers/*.c) on the target
// and read their answers.
import { errnoName } from './abi.js';
import type { HelperReply } from './executor-protocol.js';
import { withSysctlRestored } from './sysctl.js';
import { TargetError, type Target } from './target.js';
import { EXECUTED_MARKER } from './workmount.js';

/** A helper that hangs is killed after this long: its case fails, the suite goes on. */
const HELPER_TIMEOUT_MS = 20_000;

export async function runHelper(target: Target, name: string, args: string[], fds: number[] = []): Promise<HelperReply> {
  const path = target.helperPath(name);
  return target.helper({ path, argv: [path, ...args], fds, timeoutMs: HELPER_TIMEOUT_MS });
}

/** Helper arguments that set the O_MAYEXEC policy for the items after them (harness/helpers/mayexec-sysctl.h). */
const SYSCTL_ARG = '--sysctl';
export const sysctlArgs = (value: number): string[] => [SYSCTL_ARG, String(value)];

/**
 * runHelper for a helper that may switch the policy itself (`args` holding
 * sysctlArgs): the value before it is written back after, and a write the
 * helper reports failed ("SYSCTL VALUE -errno") is a fixture error, never a
 * row result.
 */
export async function runPolicyHelper(target: Target, name: string, args: string[]): Promise<HelperReply> {
  const r = args.includes(SYSCTL_ARG) ? await withSysctlRestored(target, () => runHelper(target, name, args)) : await runHelper(target, name, args);
  for (const m of r.stdout.matchAll(/^SYSCTL (\S+) (-?\d+)$/gm)) {
    if (m[2] !== '0') throw new TargetError(`fixture: the helper's write of ${m[1]} to the sysctl failed: ${errnoName(-Number(m[2]))}`);
  }
  return r;
}

/** One exec-probe answer line as an outcome: errno name, EXECUTED, or RETURNED-0. */
export function probeLineOutcome(line: string): string {
  if (line.includes(EXECUTED_MARKER)) return 'EXECUTED';
  const m = /^ERRNO (\d+)/.exec(line);
  if (m) return errnoName(Number(m[1]));
  if (line.startsWith('RETURNED 0')) return 'RETURNED-0';
  return `UNKNOWN(${JSON.stringify(line.slice(0, 80))})`;
}

/**
 * Runs a batch of exec probes in one exec-probe process (each probe forks
 * there). Returns one outcome per probe, in order.
 */
export async function runExecProbes(target: Target, probes: string[][], fds: number[] = []): Promise<string[]> {
  const args = probes.flatMap((p, i) => (i ? ['--', ...p] : p));
  const run = await runHelper(target, 'exec-probe', args, fds);
  return probes.map((_, i) => {
    const m = new RegExp(`^PROBE ${i + 1} (.*)$`, 'm').exec(run.stdout);
    return m ? probeLineOutcome(m[1]!) : `UNKNOWN(no answer: exit=${run.exit} signal=${run.signal}${run.timedOut ? ' timed out' : ''})`;
  });
}
