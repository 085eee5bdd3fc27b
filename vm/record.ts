// The run record (results.json) and what the report writers read beside it
// (RunArtifacts), plus the one definition of a case's identity (caseKey).
// Types and small pure functions only: it imports no writer, every writer
// (vm/ktap.ts, junit.ts, kcidb.ts, report-html.ts) imports it.
import type { ProbeResult } from '../harness/profiles.js';
import type { CaseParams } from '../fixtures/dimensions.js';
import type { EXIT_CODES } from './errors.js';

export type CaseStatus = 'pass' | 'fail' | 'skip' | 'error';
export type SuiteStatus = 'pass' | 'fail' | 'skip' | 'error' | 'timeout';

export interface CaseRecord {
  /** The TAP description: the case's name then " -> EXPECTED" (harness/suite.ts); subtest levels joined by " / ". */
  id: string;
  suite: string;
  status: CaseStatus;
  expected?: string;
  actual?: string;
  reason?: string;
  taint?: string[];
  /** The parameters its suite declared (harness/protocol.ts); absent in records written before suites declared them. */
  params?: CaseParams;
}

export interface SuiteRecord {
  id: string;
  status: SuiteStatus;
  reason?: string;
  exit: number | null;
  signal: string | null;
  seconds: number | null;
  /** "# omx-metrics {json}" the suite printed (CPU time, per-call costs). */
  metrics?: Record<string, number>;
}

export interface KernelIdentity {
  path: string | null;
  sha256: string | null;
  release: string | null;
  source: string;
}

export interface Totals {
  pass: number;
  fail: number;
  skip: number;
  error: number;
}

/**
 * Where a run's time went: seconds unless named otherwise, null where the
 * run did not get that far. VM runs fill most; direct and ingested runs
 * only suites and total (`npm run bench` prints them).
 */
export interface RunTimings {
  /** The suites, through the target (from the stream). */
  suites?: number | null;
  /** The run command, from its first step to the record. */
  total?: number | null;
  /** Direct mode: the runner's exit status. */
  runnerExit?: number | null;
  initramfs?: number | null;
  initrdMB?: number | null;
  baseArchiveBuilt?: number | null;
  /** From this process's start. */
  processStartToQemu?: number | null;
  qemuToConsole?: number | null;
  qemuToInit?: number | null;
  guestUptimeAtInit?: number | null;
  guestUptimeModulesLoaded?: number | null;
  qemuToExecutorReady?: number | null;
  guestUptimeAtRunner?: number | null;
  guestUptimeAtEnd?: number | null;
  /** tap, the suites and the config check, loaded while the guest boots. */
  hostLoadWhileBooting?: number | null;
  roundTrips?: number | null;
  microsPerRoundTrip?: number | null;
  batches?: number | null;
  meanBatch?: number | null;
  maxBatch?: number | null;
  qemuTotal?: number | null;
}

export interface RunRecord {
  runId: string;
  /** One of the seven verdicts (vm/verdict.ts `Verdict`, keyed by their exit statuses in vm/errors.ts). */
  verdict: keyof typeof EXIT_CODES;
  exitCode: number;
  why: string;
  mode: 'vm' | 'direct';
  kernel: KernelIdentity;
  expect: string[];
  profiles: (ProbeResult & { required: boolean })[];
  totals: Totals;
  suites: SuiteRecord[];
  /** Every case of the run, suite after suite: the one case list every writer reads. */
  cases: CaseRecord[];
  timings: RunTimings;
  qemu?: { accel: string; argv: string[]; exitCode: number | null; signal: string | null; killedFor: string | null };
  consoleSigns: { kind: string; line: string }[];
  /** Non-empty only when a test of the project made expectations wrong on purpose. */
  overriddenExpectations: Record<string, string>;
  /** Kernel config pre-check (VM runs): where the config came from and what it lacks. */
  configCheck?: { source: string; fatal: string[]; suiteLevel: { option: string; suites: string | string[] }[] } | null;
  /** VM runs: the executor's channel (virtio-serial or ttyS1), null when none came up. */
  channel?: string | null;
}

/** What a run produced besides its record, already read: the writers' other input. */
export interface RunArtifacts {
  /** Each suite's TAP as it printed it: one entry per record.suites[i] (empty for the suites the host made up). */
  suiteTap: string[][];
  /** Each case's own TAP, its test line then the YAML block under it: one entry per record.cases[i] (empty for the cases the host made up). */
  caseTap: string[][];
  /** What the suites wrote to stderr, in order. */
  stderr: { suite: string; line: string }[];
  /** The runner's start line: the machine and the runner's node version (null: the runner never started). */
  start: { machine: string; runner: string } | null;
  /** console.log as the launcher wrote it ('' without one: direct runs, bundles). */
  console: string;
}

export function totalsOf(cases: { status: string }[]): Totals {
  const t = { pass: 0, fail: 0, skip: 0, error: 0 };
  for (const c of cases) t[c.status as keyof Totals]++;
  return t;
}

/** The record's cases grouped by their suite's id. */
export function casesBySuite(cases: readonly CaseRecord[]): Map<string, CaseRecord[]> {
  const by = new Map<string, CaseRecord[]>();
  for (const c of cases) {
    const list = by.get(c.suite);
    if (list) list.push(c);
    else by.set(c.suite, [c]);
  }
  return by;
}

/** The expected outcome harness/suite.ts appends to a case's name: " -> EXPECTED". */
export const EXPECTED_SUFFIX = /\s*->\s*(\S+)\s*$/;

/** The expected outcome a case's name ends with, if it does. */
export function expectedFromName(desc: string): string | undefined {
  return EXPECTED_SUFFIX.exec(desc)?.[1];
}

/** A case's name: its id without the expected outcome, at every subtest level, levels joined by " / ". */
export function caseName(id: string): string {
  return id
    .split(' / ')
    .map((level) => level.replace(EXPECTED_SUFFIX, ''))
    .join(' / ');
}

/**
 * The identity of a case across runs and formats: its suite and its name.
 * The expected outcome is not part of it: a changed expectation is the same
 * case with another expected value (compare reports it as such; KCIDB keeps
 * its test path). Parameters are not part of it either: the name states
 * them all, and records written before cases carried params must keep
 * matching the ones written after.
 */
export function caseKey(c: Pick<CaseRecord, 'suite' | 'id'>): string {
  return `${c.suite}\u0000${caseName(c.id)}`;
}
