// mutants: build each fault-injected reference kernel (vm/kernel/faults/<series>/*.patch
// on top of the omayexec-v7 series; only the touched files recompile), boot
// it, run every suite with O_MAYEXEC required, and tell which faults the
// suite kills and by which cases. A survivor is a gap in the suite.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { orderSuites } from '../suites/index.js';
import { buildKernel } from './kernel/build.js';
import type { Series } from './kernel/recipe.js';
import { BadInputError } from './errors.js';
import { projectRoot } from './paths.js';
import { Progress } from './progress.js';
import { availableSuites, runInVm } from './run.js';
import { newRunId, runDir } from './results.js';

export interface MutantResult {
  fault: string;
  /** First line of the patch's Subject: the rule it breaks. */
  breaks: string;
  /** Cases failed (verdict fail): the suite caught the broken rule. */
  killed: boolean;
  /** The kernel panicked, did not boot, hung or the harness failed: not a kill, a crash. */
  crashed: boolean;
  verdict: string;
  exitCode: number;
  killedBy: string[];
  /** The patch's Killed-by patterns: the cases meant to kill it (empty: not declared). */
  declaredKillers: string[];
  /** Failing cases outside the declared ones: the fault is not pinned by its own cases alone. */
  undeclaredKillers: string[];
  buildSeconds: number;
  runSeconds: number;
  runDir: string;
}

export function faultDir(series: Series): string {
  return join(projectRoot, 'vm/kernel/faults', series);
}

export function listFaults(series: Series): string[] {
  const dir = faultDir(series);
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.patch')).map((f) => basename(f, '.patch')).sort() : [];
}

function breaks(patch: string): string {
  const m = /^Subject: \[FAULT\] [^:]+: (.*)$/m.exec(readFileSync(patch, 'utf8'));
  return m?.[1] ?? '?';
}

/** The header's `Killed-by: REGEX` lines: the cases that must kill the fault, and only they. */
export function declaredKillers(patchText: string): string[] {
  const header = patchText.split('\n---\n')[0] ?? '';
  return [...header.matchAll(/^Killed-by: (.+)$/gm)].map((m) => m[1]!.trim());
}

/** Failing cases no declared pattern covers (none when nothing is declared). */
export function undeclared(killedBy: string[], declared: string[]): string[] {
  if (!declared.length) return [];
  const res = declared.map((d) => new RegExp(d));
  return killedBy.filter((id) => !res.some((r) => r.test(id)));
}

/** Killed, and (when the patch declares its killers) by those cases only. */
export function pinned(r: Pick<MutantResult, 'killed' | 'undeclaredKillers'>): boolean {
  return r.killed && r.undeclaredKillers.length === 0;
}

async function verify(image: string, label: string, progress: Progress) {
  const t0 = performance.now();
  const { record, dir } = await runInVm({
    suites: orderSuites(availableSuites()),
    expect: ['omayexec-v7'],
    kernelSource: label,
    kernelPath: image,
    progress,
  });
  return { record, dir, seconds: (performance.now() - t0) / 1000 };
}

export async function runMutants(series: Series, only: string[], progress: Progress): Promise<{ results: MutantResult[]; referencePass: boolean; dir: string; seconds: number }> {
  const t0 = performance.now();
  const all = listFaults(series);
  for (const o of only) if (!all.includes(o)) throw new BadInputError(`unknown fault '${o}'; valid: ${all.join(', ')}`);
  const faults = only.length ? only : all;
  const quiet = new Progress('quiet');
  progress.phase(`reference ${series}: build (cached) and verify`);
  const ref = await buildKernel({ series, patches: 'omayexec-v7', log: (l) => progress.info(l) });
  const refRun = await verify(ref.image, `reference ${series}`, quiet);
  progress.info(`reference: ${refRun.record.verdict} (${refRun.record.totals.pass} passed) in ${refRun.seconds.toFixed(1)} s`);
  const results: MutantResult[] = [];
  for (const fault of faults) {
    const patch = join(faultDir(series), `${fault}.patch`);
    progress.phase(`fault ${fault}: incremental build`);
    const b = await buildKernel({ series, patches: 'omayexec-v7', extraPatches: [patch], log: (l) => progress.info(l) });
    const v = await verify(b.image, `reference ${series} + fault ${fault}`, quiet);
    const killedBy = v.record.cases.filter((c) => c.status === 'fail' || c.status === 'error').map((c) => c.id);
    // Only failing cases kill a mutant; a panic or a dead guest proves nothing about the suite.
    const killed = v.record.verdict === 'fail' && killedBy.length > 0;
    const crashed = !killed && v.record.verdict !== 'pass';
    const declared = declaredKillers(readFileSync(patch, 'utf8'));
    results.push({
      fault, breaks: breaks(patch), killed, crashed, verdict: v.record.verdict, exitCode: v.record.exitCode, killedBy,
      declaredKillers: declared, undeclaredKillers: undeclared(killedBy, declared),
      buildSeconds: b.cached ? 0 : b.seconds, runSeconds: v.seconds, runDir: v.dir,
    });
    progress.info(`${status(results[results.length - 1]!)} (${v.record.verdict}, ${killedBy.length} failing cases, build ${b.cached ? 'cached' : `${b.seconds.toFixed(0)} s`}, run ${v.seconds.toFixed(0)} s)`);
  }
  const dir = runDir(`${newRunId()}-mutants`);
  const seconds = (performance.now() - t0) / 1000;
  const summary = { series, reference: { verdict: refRun.record.verdict, runDir: refRun.dir, key: ref.key }, results, seconds };
  writeFileSync(join(dir, 'mutants.json'), JSON.stringify(summary, null, 2) + '\n');
  writeFileSync(join(dir, 'mutants.txt'), formatMatrix(results, refRun.record.verdict, seconds) + '\n');
  return { results, referencePass: refRun.record.verdict === 'pass', dir, seconds };
}

function status(r: MutantResult): string {
  if (r.crashed) return 'CRASHED';
  if (!r.killed) return 'SURVIVED';
  return r.undeclaredKillers.length ? 'KILLED+' : 'KILLED';
}

export function formatMatrix(results: MutantResult[], referenceVerdict: string, totalSeconds?: number): string {
  const lines = [`reference kernel: ${referenceVerdict}`, ''];
  const w = Math.max(...results.map((r) => r.fault.length), 5);
  lines.push(`${'fault'.padEnd(w)}  result    verdict  build s  run s  killed by (first cases)`);
  for (const r of results) {
    const by = r.killedBy.slice(0, 2).join(' | ') + (r.killedBy.length > 2 ? ` | +${r.killedBy.length - 2} more` : '');
    lines.push(`${r.fault.padEnd(w)}  ${status(r).padEnd(8)}  ${r.verdict.padEnd(7)}  ${r.buildSeconds.toFixed(0).padStart(7)}  ${r.runSeconds.toFixed(0).padStart(5)}  ${by}`);
  }
  const survivors = results.filter((r) => !r.killed && !r.crashed).length;
  const crashed = results.filter((r) => r.crashed).length;
  lines.push('', `${results.length - survivors - crashed}/${results.length} faults killed${crashed ? `; ${crashed} CRASHED (not counted as killed)` : ''}${survivors ? `; ${survivors} SURVIVED: the suite has a gap` : ''}`);
  for (const r of results.filter((x) => x.killed && x.undeclaredKillers.length)) {
    lines.push(`KILLED+ ${r.fault}: also killed by cases outside its Killed-by (${r.declaredKillers.join(' | ')}): ${r.undeclaredKillers.slice(0, 3).join(' | ')}${r.undeclaredKillers.length > 3 ? ` | +${r.undeclaredKillers.length - 3} more` : ''}`);
  }
  if (totalSeconds !== undefined) lines.push(`total wall time: ${totalSeconds.toFixed(1)} s`);
  return lines.join('\n');
}
