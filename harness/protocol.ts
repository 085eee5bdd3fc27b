// The line protocol between the runner (guest or direct) and the host parser.
// Control lines are "OMX " + one JSON object; everything between a
// suite-begin and its suite-end is that suite's TAP, verbatim.
import type { ProfileName } from './profiles.js';

export const CONTROL_PREFIX = 'OMX ';

export type RunnerEvent =
  | { event: 'start'; kernel: string; machine: string; uptime: number; runner: string; expect?: string[] }
  | { event: 'profile'; name: ProfileName; supported: boolean; evidence: string }
  | { event: 'suite-begin'; suite: string }
  | { event: 'stderr'; suite: string; line: string }
  | { event: 'suite-end'; suite: string; exit: number | null; signal: string | null; seconds: number; timedOut: boolean }
  | { event: 'end'; exit: number; uptime: number }
  /** A kernel WARNING or hung task read from /dev/kmsg while `suite` ran, placed after its earlier output. */
  | { event: 'kernel-sign'; suite: string | null; kind: string; line: string }
  /** The suite host has loaded node, tap and the suites' code (`loadSeconds`: its node's uptime then). */
  | { event: 'host-ready'; uptime: number; loadSeconds: number; codeCache?: string };

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

/** What the host hands the runner (written as /omx/run.json in the guest). */
export interface RunConfig {
  suites: string[];
  expect: string[];
  suiteTimeoutSec: number;
  /** '-' for stdout, else a device or file path (the guest uses /dev/ttyS1). */
  output: string;
  /** A VM boot: values such as sysctl defaults are as the kernel set them. */
  freshBoot: boolean;
  /** Expectation overrides (tests of the project only; see harness/suite.ts). */
  overrides: Record<string, string>;
  /** node/V8 flags for the suite host process (benchmarking only). */
  hostNodeFlags?: string[];
}

/**
 * Lines from the suite host to the runner, in the host's stdout between the
 * suites' TAP: ready once loaded, then begin/end around each suite it is told
 * to run. On its stdin the host reads one HostConfig line, then one suite id
 * per line; an empty line (or the end of input) ends it.
 */
export const HOST_PREFIX = 'OMX-HOST ';

export type HostMarker =
  /** `loadSeconds`: node's process.uptime() when loaded; `codeCache`: used, rejected or none. */
  | { kind: 'ready'; uptime: number; loadSeconds: number; codeCache?: string }
  | { kind: 'begin'; suite: string }
  | { kind: 'end'; suite: string; exit: number; seconds: number };

/** What the suites read from their environment (OMAYEXEC_*), sent by the runner. */
export interface HostConfig {
  expect: string[];
  freshBoot: boolean;
  overrides: Record<string, string>;
}

export function encodeHostMarker(m: HostMarker): string {
  return HOST_PREFIX + JSON.stringify(m);
}

/** Split a host line into text before a marker (if any) and the marker. */
export function splitHostLine(line: string): { text: string; marker: HostMarker | null } {
  const at = line.indexOf(HOST_PREFIX + '{');
  if (at < 0) return { text: line, marker: null };
  try {
    return { text: line.slice(0, at), marker: JSON.parse(line.slice(at + HOST_PREFIX.length)) as HostMarker };
  } catch {
    return { text: line, marker: null };
  }
}
