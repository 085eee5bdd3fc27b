// The results stream: what the runner writes (to results.raw, or stdout in
// direct mode and on a board) and the host parser reads. Control lines are
// "OMX " + one JSON object; everything between a suite-begin and its
// suite-end is that suite's TAP, verbatim.
import type { ProfileName } from './profiles.js';

export const CONTROL_PREFIX = 'OMX ';

export type RunnerEvent =
  | {
      event: 'start'; kernel: string; machine: string; uptime: number; runner: string; expect?: string[];
      /** 'ffi' (in-process koffi) or 'executor'; the executor's channel (virtio-serial port, ttyS1, stdio). */
      target?: string; channel?: string;
    }
  | { event: 'profile'; name: ProfileName; supported: boolean; evidence: string }
  | { event: 'suite-begin'; suite: string }
  | { event: 'stderr'; suite: string; line: string }
  | { event: 'suite-end'; suite: string; exit: number | null; signal: string | null; seconds: number; timedOut: boolean }
  | { event: 'end'; exit: number; uptime: number }
  /** A kernel WARNING or hung task read from /dev/kmsg while `suite` ran, placed after its earlier output. */
  | { event: 'kernel-sign'; suite: string | null; kind: string; line: string }
  /** The executor died and a new one took over (`after`: the suite it died in). */
  | { event: 'executor-restart'; after: string | null; exit: number | null; signal: string | null };

export function encodeEvent(e: RunnerEvent): string {
  return CONTROL_PREFIX + JSON.stringify(e);
}

/** Parse a control line; null when the line is not one (or is mangled). */
export function decodeEvent(line: string): RunnerEvent | null {
  const at = line.indexOf(CONTROL_PREFIX + '{');
  if (at < 0) return null;
  try {
    const e = JSON.parse(line.slice(at + CONTROL_PREFIX.length)) as RunnerEvent;
    return typeof e.event === 'string' ? e : null;
  } catch {
    return null;
  }
}

/** What the CLI hands the runner (a file in direct mode and on a board). */
export interface RunConfig {
  suites: string[];
  expect: string[];
  suiteTimeoutSec: number;
  /** A VM boot: values such as sysctl defaults are as the kernel set them. */
  freshBoot: boolean;
  /** Expectation overrides (tests of the project only; see harness/suite.ts). */
  overrides: Record<string, string>;
}
