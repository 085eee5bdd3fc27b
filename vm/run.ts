// `run`: resolve the kernel, assemble the initramfs, boot it (or run on the
// local kernel in direct mode), follow the results, write the run folder.
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { release as hostRelease } from 'node:os';
import type { RunConfig } from '../harness/protocol.js';
import { cachedInitrd, ensureBaseArchive, writeRunArchive } from './initramfs.js';
import { BadInputError, inspectKernel } from './kernel-image.js';
import type { CiOutputOptions } from './kcidb.js';
import { checkConfig, findKernelConfig, type ConfigReport } from './kconfig-check.js';
import { parseRunnerOutput, type CaseResult, type ParsedRun } from './parse.js';
import { extraSuitesDir, guestTree } from './paths.js';
import { assertBootableArch, chooseAccel, findQemu, runQemu, type QemuOutcome } from './qemu.js';
import { newRunId, runDir, totalsOf, writeRunFolder, type KernelIdentity, type RunRecord } from './results.js';
import { attributeWarnings, decideVerdict, type GuestFate } from './verdict.js';
import { Progress } from './progress.js';
import { restoreSysctls, saveSysctls } from './sysctl-guard.js';

export interface RunOptions {
  suites: string[];
  expect: string[];
  kernelSource: string;
  kernelPath?: string;
  modules?: string[];
  direct?: boolean;
  appendExtra?: string;
  qemuExtraArgs?: string[];
  bootTimeoutSec?: number;
  suiteTimeoutSec?: number;
  runTimeoutSec?: number;
  /** Deliberately wrong expectations (tests of the project): case name -> outcome. */
  overrides?: Record<string, string>;
  configPath?: string;
  /** Format of results.ktap and origin of kcidb.json. */
  ci?: CiOutputOptions;
  skipConfigCheck?: boolean;
  progress: Progress;
}

export interface RunOutcome {
  record: RunRecord;
  dir: string;
}

/** Suites in the suite host's bundle (written by npm run build). */
export function bundledSuites(): string[] {
  const manifest = join(guestTree, 'suites.json');
  return existsSync(manifest) ? (JSON.parse(readFileSync(manifest, 'utf8')) as string[]) : [];
}

export function availableSuites(): string[] {
  const extra = extraSuitesDir();
  const extraIds = extra && existsSync(extra) ? readdirSync(extra).filter((f) => f.endsWith('.js')).map((f) => basename(f, '.js')) : [];
  return [...new Set([...bundledSuites(), ...extraIds])].sort();
}

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/**
 * --expect PROFILE is checked by the host too, as a pseudo-suite "profiles":
 * a required profile the probe found absent fails the run even when none of
 * its suites was selected.
 */
export function addRequiredProfiles(run: ParsedRun, expect: string[]): void {
  if (!expect.length || !run.start) return;
  const cases: CaseResult[] = expect.map((name) => {
    const p = run.profiles.find((x) => x.name === name);
    const actual = p ? (p.supported ? 'supported' : p.evidence) : 'not probed';
    const ok = p?.supported === true;
    return { id: `profile ${name} required (--expect) -> supported`, suite: 'profiles', status: ok ? 'pass' : 'fail', expected: 'supported', actual, line: -1 };
  });
  const failed = cases.some((c) => c.status === 'fail');
  run.suites.unshift({ id: 'profiles', status: failed ? 'fail' : 'pass', exit: 0, signal: null, seconds: 0, tap: [], cases });
}

function buildRecord(
  runId: string, run: ParsedRun, fate: GuestFate, o: RunOptions, kernel: KernelIdentity,
  timings: Record<string, number | null>, qemu?: QemuOutcome,
): RunRecord {
  attributeWarnings(run, fate);
  addRequiredProfiles(run, o.expect);
  const v = decideVerdict(run, fate);
  const cases = run.suites.flatMap((s) => s.cases).map(({ line: _line, ...c }) => c);
  return {
    runId,
    verdict: v.verdict,
    exitCode: v.exitCode,
    why: v.why,
    mode: o.direct ? 'direct' : 'vm',
    kernel: { ...kernel, release: run.start?.kernel ?? kernel.release },
    expect: o.expect,
    profiles: run.profiles.map((p) => ({ ...p, required: o.expect.includes(p.name) })),
    totals: totalsOf(cases),
    suites: run.suites.map(({ tap: _tap, cases: _cases, ...s }) => s),
    cases,
    timings,
    qemu: qemu && { accel: qemu.accel, argv: qemu.argv, exitCode: qemu.exitCode, signal: qemu.signal, killedFor: qemu.killedFor },
    consoleSigns: fate.signs.map((s) => ({ kind: s.kind, line: s.line })),
    overriddenExpectations: o.overrides ?? {},
  };
}

function runConfig(o: RunOptions, output: string, suiteTimeoutSec: number): RunConfig {
  // OMAYEXEC_HOST_NODE_FLAGS: V8/node flags for the suite host, for measuring
  // their effect under emulation (npm run bench); empty by default.
  const hostNodeFlags = (process.env.OMAYEXEC_HOST_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);
  return { suites: o.suites, expect: o.expect, suiteTimeoutSec, output, freshBoot: !o.direct, overrides: o.overrides ?? {}, hostNodeFlags };
}

export class MissingConfigError extends BadInputError {}

/** Names what the kernel lacks before booting it; fatal gaps stop the run. */
function precheckConfig(kernelPath: string, o: RunOptions): ConfigReport | null {
  const found = findKernelConfig(kernelPath, o.configPath);
  if (!found) {
    o.progress.info('config check: no config found (give --config FILE, or build with CONFIG_IKCONFIG); not checked');
    return null;
  }
  const report = checkConfig(found.text, found.source);
  for (const n of report.suiteLevel) {
    const affects = Array.isArray(n.affects) ? n.affects.join(', ') : n.affects;
    o.progress.info(`config check: CONFIG_${n.option} missing (${n.why}): affects ${affects}`);
  }
  if (report.fatal.length) {
    const list = report.fatal.map((n) => `CONFIG_${n.option} (${n.why})`).join('; ');
    throw new MissingConfigError(`kernel config ${found.source} lacks what the guest needs: ${list} (--skip-config-check to boot anyway)`);
  }
  return report;
}

export async function runInVm(o: RunOptions): Promise<RunOutcome> {
  const kernelPath = o.kernelPath!;
  const info = inspectKernel(kernelPath);
  // Before anything is built or written: these are bad input.
  findQemu(info.arch);
  assertBootableArch(info.arch);
  const configReport = o.skipConfigCheck ? null : precheckConfig(kernelPath, o);
  const accel = chooseAccel(kernelPath);
  const kvm = accel === 'kvm';
  const scale = kvm ? 1 : 3;
  const suiteTimeoutSec = o.suiteTimeoutSec ?? 45 * scale;
  const bootTimeoutSec = o.bootTimeoutSec ?? 30 * scale;
  const runTimeoutSec = o.runTimeoutSec ?? bootTimeoutSec + suiteTimeoutSec * o.suites.length + 30;
  const runId = newRunId();
  const dir = runDir(runId);
  const t0 = performance.now();
  o.progress.phase(`initramfs: base archive`);
  const base = ensureBaseArchive((l) => o.progress.info(l));
  const runArchive = join(dir, 'run.cpio');
  writeRunArchive(runArchive, { runConfig: runConfig(o, '/dev/ttyS1', suiteTimeoutSec), modules: o.modules ?? [] });
  const { path: initrd } = cachedInitrd(base, runArchive);
  const tAssembled = performance.now();
  o.progress.phase(`booting ${basename(kernelPath)} (${kvm ? 'KVM' : 'software emulation'})`);
  const lines: string[] = [];
  let outcome: QemuOutcome;
  try {
    outcome = await runQemu({
      kernel: kernelPath,
      initrd,
      arch: info.arch,
      accel,
      append: `console=ttyS0 panic=-1 quiet ${o.appendExtra ?? ''}`.trim(),
      consoleLog: join(dir, 'console.log'),
      resultsFile: join(dir, 'results.raw'),
      bootTimeoutSec,
      runTimeoutSec,
      extraArgs: o.qemuExtraArgs,
      onResultLine: (l) => {
        lines.push(l);
        o.progress.resultLine(l);
      },
      onConsoleLine: (l) => o.progress.consoleLine(l),
    });
  } finally {
    rmSync(runArchive, { force: true });
  }
  const run = parseRunnerOutput(lines);
  const fate: GuestFate = {
    killedFor: outcome.killedFor,
    initReached: outcome.timings.initReached !== undefined,
    signs: outcome.signs,
    qemuSignal: outcome.killedFor ? null : outcome.signal,
  };
  const ms = (v: number | undefined) => (v === undefined ? null : v / 1000);
  const assemble = (tAssembled - t0) / 1000;
  const suitesSec = run.suites.reduce((a, s) => a + (s.seconds ?? 0), 0);
  const timings = {
    initramfs: assemble,
    baseArchiveBuilt: base.built ? base.seconds : 0,
    qemuToConsole: ms(outcome.timings.firstConsole),
    qemuToInit: ms(outcome.timings.initReached),
    guestUptimeAtInit: outcome.timings.initUptime ?? null,
    guestUptimeAtRunner: run.start?.uptime ?? null,
    guestUptimeAtHostReady: run.hostReady?.uptime ?? null,
    hostLoadSeconds: run.hostReady?.loadSeconds ?? null,
    guestUptimeAtEnd: run.end?.uptime ?? null,
    suites: suitesSec,
    qemuTotal: outcome.timings.exited / 1000,
    total: (performance.now() - t0) / 1000,
  };
  const kernel: KernelIdentity = { path: kernelPath, sha256: sha256(kernelPath), release: info.version?.split(' ')[0] ?? null, source: o.kernelSource };
  const record = buildRecord(runId, run, fate, o, kernel, timings, outcome);
  record.configCheck = configReport && {
    source: configReport.source,
    fatal: configReport.fatal.map((n) => n.option),
    suiteLevel: configReport.suiteLevel.map((n) => ({ option: n.option, suites: n.affects })),
  };
  writeRunFolder(dir, run, record, o.ci);
  writeFileSync(join(dir, 'results.raw'), lines.join('\n') + '\n');
  return { record, dir };
}

/** Direct mode: the runner on this machine's kernel, in a private mount namespace. */
export async function runDirect(o: RunOptions): Promise<RunOutcome> {
  const runId = newRunId();
  const dir = runDir(runId);
  const t0 = performance.now();
  const cfgPath = join(dir, 'run.json');
  writeFileSync(cfgPath, JSON.stringify(runConfig(o, '-', o.suiteTimeoutSec ?? 45)));
  const saved = saveSysctls();
  const lines: string[] = [];
  let interrupted: string | null = null;
  const child = spawn('unshare', ['--mount', '--propagation', 'private', process.execPath, join(guestTree, 'runner.js'), cfgPath], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  // The parent outlives the child whatever happens to it (even SIGKILL), and
  // restores what the suites may have changed; mounts die with the namespace.
  const onSignal = (sig: NodeJS.Signals) => {
    interrupted = sig;
    child.kill('SIGKILL');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let pending = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (c: string) => {
    pending += c;
    const parts = pending.split('\n');
    pending = parts.pop() ?? '';
    for (const p of parts) {
      lines.push(p);
      o.progress.resultLine(p);
    }
  });
  const status = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  if (pending) lines.push(pending);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  const restored = restoreSysctls(saved);
  const run = parseRunnerOutput(lines);
  const fate: GuestFate = { killedFor: null, initReached: true, signs: [] };
  const timings = { suites: run.suites.reduce((a, s) => a + (s.seconds ?? 0), 0), total: (performance.now() - t0) / 1000, runnerExit: status };
  const kernel: KernelIdentity = { path: null, sha256: null, release: hostRelease(), source: 'direct (running kernel)' };
  const record = buildRecord(runId, run, fate, o, kernel, timings);
  if (interrupted) {
    record.verdict = 'error';
    record.exitCode = 6;
    record.why = `interrupted by ${interrupted}; sysctls restored: ${restored.join(', ') || 'none changed'}`;
  }
  writeFileSync(join(dir, 'results.raw'), lines.join('\n') + '\n');
  writeRunFolder(dir, run, record, o.ci);
  return { record, dir };
}

/** A stream printed by a packed bundle on some device, turned into a run folder. */
export function ingest(file: string): RunOutcome {
  if (!existsSync(file)) throw new BadInputError(`no such file: ${file}`);
  const lines = readFileSync(file, 'utf8').split('\n');
  const run = parseRunnerOutput(lines);
  const runId = newRunId();
  const dir = runDir(runId);
  const fate: GuestFate = { killedFor: null, initReached: true, signs: [] };
  const expect = run.start?.expect ?? [];
  const o = { suites: run.suites.map((s) => s.id), expect, kernelSource: `ingested ${file}`, direct: true, progress: new Progress('quiet') };
  const kernel: KernelIdentity = { path: null, sha256: null, release: run.start?.kernel ?? null, source: `bundle stream ${file}` };
  const record = buildRecord(runId, run, fate, o, kernel, { suites: run.suites.reduce((a, s) => a + (s.seconds ?? 0), 0) });
  writeFileSync(join(dir, 'results.raw'), lines.join('\n'));
  writeRunFolder(dir, run, record);
  return { record, dir };
}
