// From what was observed (QEMU's fate, console signs, parsed suites) to one
// verdict and the exit code of `run`. A crash, a timeout or a missing
// sentinel is never a pass.
import { isFatal, type ConsoleSign } from '../harness/kernel-signs.js';
import type { CaseResult, ParsedRun } from './parse.js';
import { EXIT_CODES } from './errors.js';

/** The seven verdicts: the keys of the exit-status map (vm/errors.ts). */
export type Verdict = keyof typeof EXIT_CODES;

export interface GuestFate {
  /** Why the harness killed the guest, if it did. */
  killedFor: 'boot-timeout' | 'run-timeout' | 'crash' | null;
  /** Whether /init reported it was reached (VM runs); direct runs: true. */
  initReached: boolean;
  signs: (ConsoleSign & { resultLines: number })[];
  /** How QEMU ended when it did not exit by itself (killed from outside). */
  qemuSignal?: string | null;
}

export interface VerdictResult {
  verdict: Verdict;
  exitCode: number;
  why: string;
}

function taint(c: CaseResult, kind: string, line: string): void {
  (c.taint ??= []).push(line);
  c.status = 'fail';
  c.reason = `kernel ${kind} during the case: ${line}`;
}

/**
 * Mark the case that was running when the kernel printed a WARNING. The
 * runner's /dev/kmsg reports are placed in the stream after what the suite
 * wrote before the warning, so the culprit is the suite's next case line.
 * Without them (no /dev/kmsg), the console's timing is the fallback; it can
 * blame the case before, as the console may outrun the results port.
 */
export function attributeWarnings(run: ParsedRun, fate: GuestFate): void {
  const cases: CaseResult[] = run.suites.flatMap((s) => s.cases).filter((c) => c.line >= 0);
  const runnerSigns = run.kernelSigns ?? [];
  if (runnerSigns.length) {
    for (const sign of runnerSigns) {
      const inSuite = cases.filter((c) => c.suite === sign.suite);
      const culprit = inSuite.find((c) => c.line > sign.lineNo) ?? inSuite[inSuite.length - 1];
      if (culprit) taint(culprit, sign.kind, sign.line);
      else {
        // Outside any case (before the first suite, between suites): the run
        // still fails, under a "kernel" pseudo-suite when no suite was running.
        const id = sign.suite ?? 'kernel';
        let suite = run.suites.find((s) => s.id === id);
        if (!suite) {
          suite = { id, status: 'fail', exit: null, signal: null, seconds: null, tap: [], cases: [] };
          run.suites.push(suite);
        }
        suite.cases.push({ id: `${id}: kernel ${sign.kind} outside any case`, suite: id, status: 'fail', reason: sign.line, line: -1, taint: [sign.line] });
      }
    }
  } else {
    for (const sign of fate.signs.filter((s) => s.kind === 'warning' || s.kind === 'hung-task')) {
      const culprit = cases.find((c) => c.line >= sign.resultLines) ?? cases[cases.length - 1];
      if (culprit) taint(culprit, sign.kind, sign.line);
    }
  }
  for (const s of run.suites) {
    if (s.status === 'pass' && s.cases.some((c) => c.status === 'fail')) s.status = 'fail';
  }
}

export function decideVerdict(run: ParsedRun, fate: GuestFate): VerdictResult {
  const mk = (verdict: Verdict, why: string): VerdictResult => ({ verdict, exitCode: EXIT_CODES[verdict], why });
  const fatal = fate.signs.find((s) => isFatal(s.kind));
  if (fatal) return mk('panic', `kernel ${fatal.kind}: ${fatal.line}`);
  if (fate.killedFor === 'boot-timeout') return mk('boot-failure', 'the guest never reached /init before the boot timeout');
  if (fate.killedFor === 'run-timeout') return mk('timeout', 'the whole run exceeded its timeout; the guest was killed');
  if (!run.end) {
    if (!fate.initReached) return mk('boot-failure', 'the guest stopped before reaching /init');
    const how = fate.qemuSignal ? `QEMU was killed by ${fate.qemuSignal}` : 'output lost or runner died';
    return mk('error', `the run ended without the final sentinel line (${how})`);
  }
  const timedOut = run.suites.filter((s) => s.status === 'timeout');
  if (timedOut.length) return mk('timeout', `suite(s) timed out: ${timedOut.map((s) => s.id).join(', ')}`);
  const cases = run.suites.flatMap((s) => s.cases);
  // A suite that crashed, lost its output or broke its plan verified nothing
  // reliably: that is a harness-level error, worse than a failed case.
  const errors = cases.filter((c) => c.status === 'error');
  if (errors.length) return mk('error', `${errors.length} suite error(s), first: ${errors[0]!.id}`);
  const failed = cases.filter((c) => c.status === 'fail');
  if (failed.length) return mk('fail', `${failed.length} case(s) failed, first: ${failed[0]!.id}`);
  if (!cases.some((c) => c.status === 'pass')) return mk('skip', 'nothing verifiable: every suite skipped');
  return mk('pass', `${cases.filter((c) => c.status === 'pass').length} case(s) passed`);
}
