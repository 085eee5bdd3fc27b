// `run`: resolve the kernel, assemble the initramfs, boot it (or run on the
// local kernel in direct mode), follow the results, write the run folder.
import { createWriteStream, existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { release as hostRelease } from 'node:os';
import { isFatal } from '../harness/kernel-signs.js';
import type { RunConfig } from '../harness/protocol.js';
import { preferBundledTap, tapTest } from '../harness/suite.js';
import { SUITE_IDS, suiteSpecs } from '../suites/index.js';
import { finishRun } from './finish-run.js';
import { cachedInitrd, ensureBaseArchive, writeRunArchive } from './initramfs.js';
import { BadInputError, HarnessError } from './errors.js';
import { inspectKernel } from './kernel-image.js';
import { checkConfigValues, findKernelConfig, type ConfigReport } from './kconfig-check.js';
import { kconfigValues } from './kconfig.js';
import { sha256OfFile } from './file-hash.js';
import { streamFacts } from './parse.js';
import { spawnLines } from './process-lines.js';
import { extraSuitesDir, projectRoot } from './paths.js';
import { assertBootableArch, chooseAccel, findQemu, GUEST_CMDLINE, startQemu } from './qemu.js';
import type { KernelIdentity, RunRecord } from './record.js';
import { createRunDir, type CiOutputOptions } from './results.js';
import type { GuestFate } from './verdict.js';
import { Progress } from './progress.js';
import { guardedSysctls, guardRunner, recoverAbandoned, removeLeftFolders, restoreSysctls, saveSysctls } from './sysctl-guard.js';

export interface RunOptions {
  suites: string[];
  expect: string[];
  kernelSource: string;
  kernelPath?: string;
  /** Modules /init loads (the channel's drivers). */
  modules?: string[];
  /** Modules the suites that need them load (SuiteNeeds.modules). */
  onDemandModules?: string[];
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

/** Suites of the registry (suites/index.ts). */
export function bundledSuites(): string[] {
  return [...SUITE_IDS];
}

/** Registry suites plus the project's crafted test suites (OMAYEXEC_EXTRA_SUITES). */
export function availableSuites(): string[] {
  const extra = extraSuitesDir();
  const extraIds = extra && existsSync(extra) ? readdirSync(extra).filter((f) => f.endsWith('.js')).map((f) => basename(f, '.js')) : [];
  return [...new Set([...bundledSuites(), ...extraIds])].sort();
}

function runConfig(o: RunOptions, suiteTimeoutSec: number): RunConfig {
  return { suites: o.suites, expect: o.expect, suiteTimeoutSec, freshBoot: !o.direct, overrides: o.overrides ?? {} };
}

/** Node clamps timers above 2^31-1 ms to 1 ms: no timeout may be longer. */
export const MAX_TIMEOUT_SEC = Math.floor((2 ** 31 - 1) / 1000);

/** How often the live results.raw is written while a run goes on. */
const RAW_FLUSH_MS = 200;

export class MissingConfigError extends BadInputError {}

interface ParsedConfig {
  source: string;
  values: ReadonlyMap<string, string | null>;
}

/** Names what the guest lacks before booting it: a fatal gap stops the run. Returns the parsed config for the suites' own check. */
function precheckBoot(kernelPath: string, o: RunOptions): ParsedConfig | null {
  const found = findKernelConfig(kernelPath, o.configPath);
  if (!found) {
    o.progress.info('config check: no config found (give --config FILE, or build with CONFIG_IKCONFIG); not checked');
    return null;
  }
  const config = { source: found.source, values: kconfigValues(found.text) };
  const { fatal } = checkConfigValues(config.values, config.source);
  if (fatal.length) {
    const list = fatal.map((n) => `CONFIG_${n.option} (${n.why})`).join('; ');
    throw new MissingConfigError(`kernel config ${found.source} lacks what the guest needs: ${list} (--skip-config-check to boot anyway)`);
  }
  return config;
}

/** The options the suites of this run declared, checked while the guest boots (their specs load then anyway). */
async function checkSuiteConfig(config: ParsedConfig, o: RunOptions): Promise<ConfigReport> {
  const report = checkConfigValues(config.values, config.source, await suiteSpecs(o.suites));
  for (const n of report.suiteLevel) {
    const affects = Array.isArray(n.affects) ? n.affects.join(', ') : n.affects;
    o.progress.info(`config check: CONFIG_${n.option} missing (${n.why}): affects ${affects}`);
  }
  return report;
}

export async function runInVm(o: RunOptions): Promise<RunOutcome> {
  const kernelPath = o.kernelPath!;
  const info = inspectKernel(kernelPath);
  // Before anything is built or written: these are bad input.
  findQemu(info.arch);
  assertBootableArch(info.arch);
  const config = o.skipConfigCheck ? null : precheckBoot(kernelPath, o);
  const accel = chooseAccel(kernelPath);
  const kvm = accel === 'kvm';
  const scale = kvm ? 1 : 3;
  const suiteTimeoutSec = o.suiteTimeoutSec ?? 45 * scale;
  const bootTimeoutSec = o.bootTimeoutSec ?? 30 * scale;
  const runTimeoutSec = Math.min(o.runTimeoutSec ?? bootTimeoutSec + suiteTimeoutSec * o.suites.length + 30, MAX_TIMEOUT_SEC);
  const { runId, dir } = createRunDir();
  const t0 = performance.now();
  o.progress.phase(`initramfs: base archive`);
  const base = ensureBaseArchive((l) => o.progress.info(l));
  const runArchive = join(dir, 'run.cpio');
  let initrd: string;
  try {
    writeRunArchive(runArchive, { modules: o.modules ?? [], onDemandModules: o.onDemandModules ?? [] });
    initrd = cachedInitrd(base, runArchive).path;
  } catch (e) {
    // Name the file a full disk stopped (writeSync errors carry no path).
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOSPC' && !err.path) err.path = runArchive;
    throw e;
  } finally {
    rmSync(runArchive, { force: true });
  }
  const tAssembled = performance.now();
  o.progress.phase(`booting ${basename(kernelPath)} (${kvm ? 'KVM' : 'software emulation'})`);
  const lines: string[] = [];
  // Written live (finishRun writes it again whole): a run in progress can be followed.
  const raw = createWriteStream(join(dir, 'results.raw'));
  // Lines go out in one write every RAW_FLUSH_MS, not one write each: the
  // stream stays followable and the session is not slowed line by line.
  let pendingRaw = '';
  let flushTimer: NodeJS.Timeout | null = null;
  const flushRaw = () => {
    flushTimer = null;
    if (pendingRaw) raw.write(pendingRaw);
    pendingRaw = '';
  };
  // A full disk must not crash the run here: finishRun writes the file again and reports ENOSPC.
  let rawError: Error | null = null;
  raw.on('error', (e) => (rawError ??= e));
  const q = startQemu({
    kernel: kernelPath,
    initrd,
    arch: info.arch,
    accel,
    append: `${GUEST_CMDLINE} ${o.appendExtra ?? ''}`.trim(),
    consoleLog: join(dir, 'console.log'),
    channelDir: dir,
    bootTimeoutSec,
    runTimeoutSec,
    extraArgs: o.qemuExtraArgs,
    resultLineCount: () => lines.length,
    onConsoleLine: (l) => o.progress.consoleLine(l),
  });
  // Interrupted (CI cancel, kill PID): stop the guest, and the folder says so.
  let interrupted: string | null = null;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupted = sig;
    q.kill('interrupted');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // Loaded while the guest boots: tap, the suites (the config check reads
  // their needs) and the session code.
  const tLoad = performance.now();
  preferBundledTap();
  const tapLoaded = tapTest();
  const configReport = config && (await checkSuiteConfig(config, o));
  const { runGuestSession } = await import('./guest-session.js');
  await tapLoaded;
  const hostLoadSeconds = (performance.now() - tLoad) / 1000;
  const session = await runGuestSession(q, runConfig(o, suiteTimeoutSec), (l) => {
    lines.push(l);
    pendingRaw += l + '\n';
    flushTimer ??= setTimeout(flushRaw, RAW_FLUSH_MS);
    o.progress.resultLine(l);
  }, bootTimeoutSec, t0);
  if (flushTimer) clearTimeout(flushTimer);
  flushRaw();
  if (!rawError) await new Promise((r) => raw.end(r));
  // The guest powers off after the sentinel; if it did not get that far the
  // run timeout (or a crash) ends QEMU.
  if (session.error) q.kill('crash');
  const outcome = await q.exited;
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  const stream = streamFacts(lines);
  // A session that broke with the guest alive had QEMU stopped above: that
  // kill is ours, not a sign of a kernel crash.
  const ours = outcome.killedFor === 'interrupted' || (outcome.killedFor === 'crash' && session.error && !outcome.signs.some((x) => isFatal(x.kind)));
  const fate: GuestFate = {
    killedFor: ours ? null : (outcome.killedFor as GuestFate['killedFor']),
    initReached: outcome.timings.initReached !== undefined,
    signs: outcome.signs,
    qemuSignal: outcome.killedFor ? null : outcome.signal,
  };
  const ms = (v: number | undefined | null) => (v === undefined || v === null ? null : v / 1000);
  const timings = {
    initramfs: (tAssembled - t0) / 1000,
    initrdMB: Math.round((statSync(initrd).size / 1048576) * 100) / 100,
    baseArchiveBuilt: base.built ? base.seconds : 0,
    qemuToConsole: ms(outcome.timings.firstConsole),
    qemuToInit: ms(outcome.timings.initReached),
    guestUptimeAtInit: outcome.timings.initUptime ?? null,
    guestUptimeModulesLoaded: outcome.timings.modulesUptime ?? null,
    processStartToQemu: ms(outcome.timings.spawnedAt),
    qemuToExecutorReady: session.readyAtMs === null ? null : (session.readyAtMs - (tAssembled - t0)) / 1000,
    guestUptimeAtRunner: stream.startUptime,
    guestUptimeAtEnd: stream.endUptime,
    suites: stream.suiteSeconds,
    hostLoadWhileBooting: hostLoadSeconds,
    roundTrips: session.roundTrips,
    microsPerRoundTrip: session.microsPerRoundTrip,
    maxBatch: session.batchSizes.length ? Math.max(...session.batchSizes) : null,
    batches: session.batchSizes.length,
    meanBatch: session.batchSizes.length ? Math.round((session.batchSizes.reduce((a, b) => a + b, 0) / session.batchSizes.length) * 10) / 10 : null,
    qemuTotal: outcome.timings.exited / 1000,
    total: (performance.now() - t0) / 1000,
  };
  const kernel: KernelIdentity = { path: kernelPath, sha256: sha256OfFile(kernelPath), release: info.version?.split(' ')[0] ?? null, source: o.kernelSource };
  const configCheck = configReport && {
    source: configReport.source,
    fatal: configReport.fatal.map((n) => n.option),
    suiteLevel: configReport.suiteLevel.map((n) => ({ option: n.option, suites: n.affects })),
  };
  return finishRun({
    runId, dir, mode: 'vm', lines, fate, expect: o.expect, overrides: o.overrides ?? {}, kernel, timings, qemu: outcome,
    configCheck, channel: session.channel, sessionError: session.error, ci: o.ci, interrupted,
  });
}

/** Direct mode: the runner on this machine's kernel (ffi target), in a private mount namespace. */
export async function runDirect(o: RunOptions): Promise<RunOutcome> {
  for (const r of recoverAbandoned()) {
    o.progress.info(`a direct run (pid ${r.pid}) died without restoring the sysctls: restored ${r.restored.join(', ') || 'none (none had changed)'}; removed ${r.removed.length} empty work-mount folder(s)`);
  }
  const { runId, dir } = createRunDir();
  const t0 = performance.now();
  const cfgPath = join(dir, 'run.json');
  writeFileSync(cfgPath, JSON.stringify(runConfig(o, o.suiteTimeoutSec ?? 45)));
  const saved = saveSysctls(guardedSysctls(await suiteSpecs(o.suites)));
  const lines: string[] = [];
  let interrupted: string | null = null;
  const runner = join(projectRoot, 'dist/harness/direct-runner.js');
  const { child, ended } = spawnLines('unshare', ['--mount', '--propagation', 'private', process.execPath, runner, cfgPath], {
    stderr: 'inherit',
    onLine: (l) => {
      lines.push(l);
      o.progress.resultLine(l);
    },
  });
  // unshare execs node in its own process: this pid is the runner's.
  if (child.pid) guardRunner(saved, child.pid);
  // The parent outlives the child whatever happens to it (even SIGKILL), and
  // restores what the suites may have changed; mounts die with the namespace.
  const onSignal = (sig: NodeJS.Signals) => {
    interrupted = sig;
    child.kill('SIGKILL');
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let status: number | null;
  try {
    status = (await ended).code;
  } catch (e) {
    throw new HarnessError(`cannot start the direct runner (unshare): ${(e as Error).message}`);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const restored = restoreSysctls(saved);
  // A runner stopped mid-suite leaves its (empty, unmounted) work-mount folders.
  if (child.pid) removeLeftFolders(child.pid);
  rmSync(cfgPath, { force: true });
  const fate: GuestFate = { killedFor: null, initReached: true, signs: [] };
  const timings = { suites: streamFacts(lines).suiteSeconds, total: (performance.now() - t0) / 1000, runnerExit: status };
  const kernel: KernelIdentity = { path: null, sha256: null, release: hostRelease(), source: 'direct (running kernel)' };
  return finishRun({
    runId, dir, mode: 'direct', lines, fate, expect: o.expect, overrides: o.overrides ?? {}, kernel, timings, ci: o.ci,
    interrupted: interrupted && `${interrupted}; sysctls restored: ${restored.join(', ') || 'none changed'}`,
  });
}

/** A stream printed by a packed bundle on some device, turned into a run folder. */
export function ingest(file: string): RunOutcome {
  if (!existsSync(file)) throw new BadInputError(`no such file: ${file}`);
  if (!statSync(file).isFile()) throw new BadInputError(`ingest ${file}: not a file (give the stream run_omayexec.sh printed)`);
  const lines = readFileSync(file, 'utf8').replace(/\n$/, '').split('\n');
  const stream = streamFacts(lines);
  const { runId, dir } = createRunDir();
  const fate: GuestFate = { killedFor: null, initReached: true, signs: [] };
  const kernel: KernelIdentity = { path: null, sha256: null, release: stream.kernel, source: `bundle stream ${file}` };
  const timings = { suites: stream.suiteSeconds };
  return finishRun({ runId, dir, mode: 'direct', lines, fate, expect: stream.expect, overrides: {}, kernel, timings });
}
