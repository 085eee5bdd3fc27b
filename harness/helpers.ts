// Locate and run the project's small static helpers (harness/helpers/*.c).
// The bundled suite host lives in dist/guest/suite-host.js beside helpers/;
// a suite run by hand from dist/suites/ finds them in dist/guest/helpers/.
import { spawnSync, type StdioOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { errnoName } from './sys.js';
import { EXECUTED_MARKER } from './workmount.js';

export function helperPath(name: string): string {
  const dir = process.env.OMAYEXEC_HELPERS;
  if (dir) return `${dir}/${name}`;
  const beside = fileURLToPath(new URL(`./helpers/${name}`, import.meta.url));
  return existsSync(beside) ? beside : fileURLToPath(new URL(`../guest/helpers/${name}`, import.meta.url));
}

export interface HelperRun {
  stdout: string;
  status: number | null;
  signal: string | null;
}

export function runHelper(name: string, args: string[], extraFds: number[] = []): HelperRun {
  const stdio: StdioOptions = ['ignore', 'pipe', 'pipe', ...extraFds];
  const r = spawnSync(helperPath(name), args, { stdio, encoding: 'utf8', timeout: 20_000 });
  if (r.error) throw new Error(`helper ${name} could not run: ${r.error.message}`);
  return { stdout: r.stdout ?? '', status: r.status, signal: r.signal };
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
export function runExecProbes(probes: string[][], extraFds: number[] = []): string[] {
  const args = probes.flatMap((p, i) => (i ? ['--', ...p] : p));
  const run = runHelper('exec-probe', args, extraFds);
  return probes.map((_, i) => {
    const m = new RegExp(`^PROBE ${i + 1} (.*)$`, 'm').exec(run.stdout);
    return m ? probeLineOutcome(m[1]!) : `UNKNOWN(no answer: status=${run.status} signal=${run.signal})`;
  });
}
