// Locate and run the project's small static helpers (harness/helpers/*.c).
// Bundled suites live in <root>/suites/, helpers in <root>/helpers/.
import { spawnSync, type StdioOptions } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { errnoName } from './sys.js';
import { EXECUTED_MARKER } from './workmount.js';

export function helperPath(name: string): string {
  const dir = process.env.OMAYEXEC_HELPERS;
  if (dir) return `${dir}/${name}`;
  return fileURLToPath(new URL(`../helpers/${name}`, import.meta.url));
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

/** exec-probe's answer as an outcome: errno name, EXECUTED, or RETURNED-0. */
export function execProbeOutcome(run: HelperRun): string {
  if (run.stdout.includes(EXECUTED_MARKER)) return 'EXECUTED';
  const m = /ERRNO (\d+)/.exec(run.stdout);
  if (m) return errnoName(Number(m[1]));
  if (/RETURNED 0/.test(run.stdout)) return 'RETURNED-0';
  return `UNKNOWN(status=${run.status} signal=${run.signal} out=${JSON.stringify(run.stdout.slice(0, 80))})`;
}
