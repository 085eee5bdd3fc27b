// The runner: probes the ABI profiles through the Target, runs the suites
// one after the other in this process, frames each suite's TAP with control
// lines, and ends with the sentinel `end` event, written only once the
// target answered after the last suite. The same code serves VM runs (the
// executor target, in the CLI's process), direct mode and the board bundle
// (the ffi target, in a child process: harness/direct-runner.ts).
import { pathToFileURL } from 'node:url';
import { scanConsoleLine, isFatal } from './kernel-signs.js';
import { LineSplitter } from './lines.js';
import { decideProfile, probeAll, type ProbeResult } from './profiles.js';
import { encodeEvent, type RunConfig, type RunnerEvent } from './protocol.js';
import { runSuite, type SuiteSpec } from './suite.js';
import type { Target } from './target.js';
import { SUITE_MODULES } from '../suites/index.js';

export interface RunnerHooks {
  /** A suite ran past its timeout: make its pending target work fail (kill the executor). */
  onTimeout?: () => Promise<void>;
  /** How the target's process ended during the last suite, if it did (and clear it). */
  takeDeath?: () => { exit: number | null; signal: string | null } | null;
  /** After a death: wait for the replacement process. */
  recover?: () => Promise<void>;
  /** Why the target can no longer be reached (the guest is gone), or null. */
  lost?: () => string | null;
  /** Before the sentinel: prove the target still answers. */
  finish?: () => Promise<void>;
  /** Target kind and channel for the start event. */
  describe?: { target: string; channel?: string };
}

/** A suite outside the registry: the project's crafted fault suites (tests only). */
async function loadSuite(id: string): Promise<SuiteSpec> {
  const load = SUITE_MODULES[id];
  if (load) return { ...(await load()), id };
  const extra = process.env.OMAYEXEC_EXTRA_SUITES;
  if (!extra) throw new Error(`no suite named ${id}`);
  const m = (await import(pathToFileURL(`${extra}/${id}.js`).href)) as { default: SuiteSpec };
  return { ...m.default, id };
}

/** Extra time a suite gets to unwind after its timeout killed the executor. */
const UNWIND_MS = 10_000;

export class Runner {
  currentSuite: string | null = null;
  /** The target's process died (or was killed) in the current suite: its later output is discarded. */
  private silenced = false;

  constructor(
    private readonly target: Target,
    private readonly cfg: RunConfig,
    private readonly out: (line: string) => void,
    private readonly hooks: RunnerHooks = {},
  ) {}

  event(e: RunnerEvent): void {
    this.out(encodeEvent(e));
  }

  /**
   * The executor died, or was killed for a timeout: what the suite reports
   * from now on (the exception its lost request raised) is not the kernel's
   * answer. As when a test process dies, its TAP simply stops there.
   */
  targetDied(): void {
    if (this.currentSuite) this.silenced = true;
  }

  /** Kernel log lines from the target (executor KMSG frames, or /dev/kmsg in direct mode). */
  kernelLog(lines: string[]): void {
    for (const l of lines) {
      const sign = scanConsoleLine(l);
      // Fatal signs end the run; the console scan reports those.
      if (sign && !isFatal(sign.kind)) this.event({ event: 'kernel-sign', suite: this.currentSuite, kind: sign.kind, line: sign.line });
    }
  }

  private async uptime(): Promise<number> {
    try {
      return Number((await this.target.readFile('/proc/uptime')).toString('utf8').split(' ')[0]);
    } catch {
      return -1;
    }
  }

  /** A suite whose profile is absent (and not required) is skipped here, with the probe's evidence. */
  private skipWithoutStarting(spec: SuiteSpec, profiles: ProbeResult[]): boolean {
    const d = decideProfile(spec.profile, profiles, this.cfg.expect);
    // A failure is the suite's own to report (its gate), through tap.
    if (d.run || d.fail) return false;
    this.event({ event: 'suite-begin', suite: spec.id });
    this.out('TAP version 14');
    this.out(`1..0 # SKIP ${d.evidence}`);
    this.event({ event: 'suite-end', suite: spec.id, exit: 4, signal: null, seconds: 0, timedOut: false });
    return true;
  }

  private async runOne(spec: SuiteSpec, profiles: ProbeResult[]): Promise<number> {
    this.event({ event: 'suite-begin', suite: spec.id });
    this.currentSuite = spec.id;
    const t0 = performance.now();
    this.silenced = false;
    // TAP arrives in chunks; lines go out whole, so control lines never split one.
    const tapLines = new LineSplitter((l) => this.out(l));
    const write = (chunk: string) => {
      if (!this.silenced) tapLines.push(chunk);
    };
    const env = { target: this.target, profiles, required: this.cfg.expect, freshBoot: this.cfg.freshBoot, overrides: this.cfg.overrides };
    let timedOut = false;
    let abandoned = false;
    const suite = runSuite(spec, env, write);
    const timeoutMs = this.cfg.suiteTimeoutSec * 1000;
    let timer: NodeJS.Timeout | undefined;
    let killing: Promise<void> = Promise.resolve();
    const timeout = new Promise<'abandoned'>((resolve) => {
      timer = setTimeout(() => {
        timedOut = true;
        this.silenced = true; // what the suite says after the kill is not the kernel's answer
        killing = (this.hooks.onTimeout?.() ?? Promise.resolve()).catch(() => {});
        setTimeout(() => resolve('abandoned'), UNWIND_MS).unref();
      }, timeoutMs);
    });
    const result = await Promise.race([suite, timeout]);
    clearTimeout(timer);
    // The guest is gone: this suite never finished, and nothing else can run.
    const lost = this.hooks.lost?.();
    if (lost) throw new Error(`${lost} during suite ${spec.id}`);
    // The next suite starts on the replacement executor, not during the kill.
    await killing;
    if (result === 'abandoned') abandoned = true;
    if (!this.silenced) tapLines.flush();
    this.currentSuite = null;
    this.silenced = false;
    const death = this.hooks.takeDeath?.() ?? null;
    const seconds = (performance.now() - t0) / 1000;
    const exit = abandoned || death ? null : (result as number);
    this.event({ event: 'suite-end', suite: spec.id, exit, signal: death?.signal ?? (timedOut ? 'SIGKILL' : null), seconds, timedOut });
    if (death) {
      this.event({ event: 'executor-restart', after: spec.id, exit: death.exit, signal: death.signal });
      await this.hooks.recover?.();
    }
    return timedOut || death || exit !== 0 ? 1 : 0;
  }

  async run(): Promise<number> {
    const identity = await this.target.identity();
    this.event({
      event: 'start', kernel: identity.release, machine: identity.machine, uptime: await this.uptime(),
      runner: `node ${process.version}`, expect: this.cfg.expect, ...this.hooks.describe,
    });
    const profiles = await probeAll(this.target, { freshBoot: this.cfg.freshBoot });
    for (const p of profiles) this.event({ event: 'profile', ...p });
    let worst = 0;
    for (const id of this.cfg.suites) {
      const spec = await loadSuite(id);
      if (this.skipWithoutStarting(spec, profiles)) continue;
      worst = Math.max(worst, await this.runOne(spec, profiles));
    }
    await this.hooks.finish?.();
    this.event({ event: 'end', exit: worst, uptime: await this.uptime() });
    return worst;
  }
}
