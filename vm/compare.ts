// compare BASE CANDIDATE: what changed between two runs, case by case (a
// case is matched by caseKey: suite and name, whatever its expectation).
// Exit 0 without regression, 1 with one (usable under `git bisect run`).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BadInputError } from './errors.js';
import { resultsRoot } from './paths.js';
import { caseKey, caseName, expectedFromName, type CaseRecord, type RunRecord } from './record.js';

export interface Comparison {
  base: { runId: string; kernel: string; verdict: string };
  candidate: { runId: string; kernel: string; verdict: string };
  kernelDiffers: boolean;
  regressions: string[];
  /** Cases that passed and are now skipped or gone: coverage the candidate lost. */
  lost: string[];
  fixes: string[];
  newlySkipped: string[];
  newlyRun: string[];
  disappeared: string[];
  /** The same case expecting another outcome ("name: expected A -> B"): the spec or its table changed, not the kernel. */
  expectationChanged: string[];
}

/** A run folder, a results.json, or a run id under results/. */
export function loadRun(ref: string): RunRecord {
  const candidates = [ref, join(ref, 'results.json'), join(resultsRoot(), ref, 'results.json')];
  for (const c of candidates) {
    if (existsSync(c) && statSync(c).isFile()) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(readFileSync(c, 'utf8'));
      } catch (e) {
        throw new BadInputError(`${c} is not a results.json: ${(e as Error).message}`);
      }
      // A run record has its verdict and its cases; {} or a kcidb.json has neither.
      const r = parsed as Partial<RunRecord> | null;
      if (!r || typeof r !== 'object' || typeof r.verdict !== 'string' || !Array.isArray(r.cases)) {
        throw new BadInputError(`${c} is not a results.json of a run (no verdict and cases in it)`);
      }
      return r as RunRecord;
    }
  }
  throw new BadInputError(`no run found at ${ref} (give a run folder, its results.json, or a run id under ${resultsRoot()})`);
}

const ran = (s: string | undefined) => s === 'pass' || s === 'fail' || s === 'error';
const bad = (s: string | undefined) => s === 'fail' || s === 'error';

/** What a case expects: from its diagnostics, else from its name (skipped cases have only the name). */
function expectedOf(c: CaseRecord): string | undefined {
  return c.expected ?? expectedFromName(c.id.split(' / ').pop() ?? '');
}

export function compareRuns(base: RunRecord, cand: RunRecord): Comparison {
  const b = new Map(base.cases.map((c) => [caseKey(c), c]));
  const c = new Map(cand.cases.map((x) => [caseKey(x), x]));
  const out: Comparison = {
    base: { runId: base.runId, kernel: base.kernel.release ?? '?', verdict: base.verdict },
    candidate: { runId: cand.runId, kernel: cand.kernel.release ?? '?', verdict: cand.verdict },
    kernelDiffers: base.kernel.release !== cand.kernel.release || base.kernel.sha256 !== cand.kernel.sha256,
    regressions: [],
    lost: [],
    fixes: [],
    newlySkipped: [],
    newlyRun: [],
    disappeared: [],
    expectationChanged: [],
  };
  for (const [key, cc] of c) {
    const bc = b.get(key);
    const id = cc.id;
    const bs = bc?.status;
    const cs = cc.status;
    const was = bc ? expectedOf(bc) : undefined;
    if (bc && was !== expectedOf(cc)) out.expectationChanged.push(`${caseName(id)}: expected ${was ?? '?'} -> ${expectedOf(cc) ?? '?'}`);
    if (bs === 'pass' && bad(cs)) out.regressions.push(id);
    else if (bs === 'pass' && cs === 'skip') out.lost.push(id);
    else if (bad(bs) && cs === 'pass') out.fixes.push(id);
    else if (ran(bs) && cs === 'skip') out.newlySkipped.push(id);
    else if (!ran(bs) && ran(cs)) out.newlyRun.push(id);
  }
  for (const [key, bc] of b) if (!c.has(key)) (bc.status === 'pass' ? out.lost : out.disappeared).push(bc.id);
  // A verdict that got worse without a case to show for it (panic, timeout,
  // lost output) is a regression too.
  const rank = ['pass', 'skip', 'fail', 'timeout', 'error', 'boot-failure', 'panic'];
  if (rank.indexOf(cand.verdict) > rank.indexOf(base.verdict) && !out.regressions.length && !out.lost.length) {
    out.regressions.push(`(run) verdict ${base.verdict} -> ${cand.verdict}`);
  }
  return out;
}

export function formatComparison(c: Comparison): string {
  const lines = [
    `base:      ${c.base.runId}  kernel ${c.base.kernel}  verdict ${c.base.verdict}`,
    `candidate: ${c.candidate.runId}  kernel ${c.candidate.kernel}  verdict ${c.candidate.verdict}`,
    c.kernelDiffers ? 'kernel identity differs (release or image sha256)' : 'same kernel image',
  ];
  const section = (title: string, ids: string[]) => {
    lines.push(`${title}: ${ids.length}`);
    for (const id of ids.slice(0, 200)) lines.push(`  ${id}`);
    if (ids.length > 200) lines.push(`  ... ${ids.length - 200} more (see --json)`);
  };
  section('regressions (pass -> fail)', c.regressions);
  section('lost (pass -> skipped or no longer reported)', c.lost);
  section('fixes (fail -> pass)', c.fixes);
  section('newly skipped', c.newlySkipped);
  section('newly run', c.newlyRun);
  section('no longer reported', c.disappeared);
  section('expectation changed', c.expectationChanged);
  return lines.join('\n');
}
