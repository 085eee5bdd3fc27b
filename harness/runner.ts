// The runner: probes the ABI profiles, has the suite host run the suites one
// after the other (a crash or hang costs that suite only: a new host runs the
// rest), forwards the TAP framed by control lines, and ends with the sentinel
// `end` event. Same code in the guest (/init starts it) and in direct mode.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { machine, release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { SUITE_GATES } from '../fixtures/suites.js';
import type { KmsgWatcher } from './kmsg-watcher.js';
import type { ProbeResult } from './profiles.js';
import { encodeEvent, splitHostLine, type RunConfig, type RunnerEvent } from './protocol.js';

function uptime(): number {
  try {
    return Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  } catch {
    return -1;
  }
}

class Output {
  constructor(private readonly fd: number) {}
  line(text: string): void {
    writeSync(this.fd, text + '\n');
  }
  event(e: RunnerEvent): void {
    this.line(encodeEvent(e));
  }
}

function forwardLines(stream: NodeJS.ReadableStream, onLine: (l: string) => void): () => void {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    pending += chunk;
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const l of lines) onLine(l);
  });
  return () => {
    if (pending) onLine(pending);
    pending = '';
  };
}

type SuiteOutcome =
  | { kind: 'ended'; exit: number; seconds: number }
  | { kind: 'died'; exit: number | null; signal: string | null; seconds: number }
  | { kind: 'timeout'; seconds: number };

/**
 * One suite host process (harness/suite-host.ts). Its TAP lines go straight
 * to the results stream; its markers resolve the suite being run.
 */
class SuiteHost {
  private readonly child: ChildProcess;
  private current: { id: string; started: bigint; done: (o: SuiteOutcome) => void } | null = null;
  private exited = false;
  /** Killed for a timeout: gone even before its exit is seen. */
  private killed = false;
  private readonly closed: Promise<void>;

  constructor(cfg: RunConfig, private readonly out: Output) {
    const started = process.hrtime.bigint();
    this.child = spawn(process.execPath, [...(cfg.hostNodeFlags ?? []), fileURLToPath(new URL('./suite-host.js', import.meta.url))], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: {
        ...process.env,
        OMAYEXEC_EXPECT: cfg.expect.join(','),
        OMAYEXEC_FRESH_BOOT: cfg.freshBoot ? '1' : '0',
        OMAYEXEC_OVERRIDES: JSON.stringify(cfg.overrides ?? {}),
        TAP_COLOR: '0',
        NO_COLOR: '1',
      },
    });
    this.child.stdin!.on('error', () => {}); // EPIPE once the host died: its exit is reported instead
    const flushOut = forwardLines(this.child.stdout!, (l) => this.onLine(l, started));
    const flushErr = forwardLines(this.child.stderr!, (l) => out.event({ event: 'stderr', suite: this.current?.id ?? 'suite-host', line: l }));
    this.closed = new Promise((resolve) => {
      this.child.on('close', (code, signal) => {
        flushOut();
        flushErr();
        this.exited = true;
        const c = this.current;
        this.current = null;
        c?.done({ kind: 'died', exit: code, signal, seconds: secondsSince(c.started) });
        resolve();
      });
    });
  }

  private onLine(line: string, started: bigint): void {
    const { text, marker } = splitHostLine(line);
    if (text || !marker) this.out.line(text);
    if (!marker) return;
    if (marker.kind === 'ready') {
      this.out.event({ event: 'host-ready', uptime: marker.uptime, loadSeconds: secondsSince(started) });
    } else if (marker.kind === 'end' && this.current?.id === marker.suite) {
      const c = this.current;
      this.current = null;
      c.done({ kind: 'ended', exit: marker.exit, seconds: marker.seconds });
    }
  }

  /** Run one suite; after 'died' or 'timeout' this host is gone. */
  run(id: string, timeoutSec: number): Promise<SuiteOutcome> {
    return new Promise((resolve) => {
      const started = process.hrtime.bigint();
      if (this.exited) return resolve({ kind: 'died', exit: this.child.exitCode, signal: this.child.signalCode, seconds: 0 });
      const timer = setTimeout(() => {
        this.current = null;
        this.killed = true;
        this.child.kill('SIGKILL');
        resolve({ kind: 'timeout', seconds: secondsSince(started) });
      }, timeoutSec * 1000);
      this.current = {
        id,
        started,
        done: (o) => {
          clearTimeout(timer);
          resolve(o);
        },
      };
      this.child.stdin!.write(`${id}\n`);
    });
  }

  get alive(): boolean {
    return !this.exited && !this.killed;
  }

  /** No more suites: let the host exit (killed if it does not). */
  async close(): Promise<void> {
    this.child.stdin!.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.closed;
    clearTimeout(timer);
  }
}

function secondsSince(t: bigint): number {
  return Number(process.hrtime.bigint() - t) / 1e9;
}

/**
 * A suite whose profile is absent (and not required) is skipped here, with
 * the probe's evidence, instead of starting a node process just to skip.
 */
function skipWithoutStarting(id: string, cfg: RunConfig, profiles: ProbeResult[], out: Output): boolean {
  const profile = SUITE_GATES[id]?.profile;
  const probe = profiles.find((p) => p.name === profile);
  if (!probe || probe.supported || cfg.expect.includes(probe.name)) return false;
  out.event({ event: 'suite-begin', suite: id });
  out.line('TAP version 14');
  out.line(`1..0 # SKIP ${probe.evidence}`);
  out.event({ event: 'suite-end', suite: id, exit: 4, signal: null, seconds: 0, timedOut: false });
  return true;
}

async function runSuite(id: string, host: SuiteHost, cfg: RunConfig, out: Output, kmsg: KmsgWatcher): Promise<number> {
  out.event({ event: 'suite-begin', suite: id });
  const o = await host.run(id, cfg.suiteTimeoutSec);
  await kmsg.flush();
  if (o.kind === 'ended') {
    out.event({ event: 'suite-end', suite: id, exit: o.exit, signal: null, seconds: o.seconds, timedOut: false });
    return o.exit === 0 ? 0 : 1;
  }
  const exit = o.kind === 'died' ? o.exit : null;
  const signal = o.kind === 'died' ? o.signal : 'SIGKILL';
  out.event({ event: 'suite-end', suite: id, exit, signal, seconds: o.seconds, timedOut: o.kind === 'timeout' });
  return 1;
}

async function main(): Promise<number> {
  const cfgPath = process.argv[2];
  if (!cfgPath) {
    console.error('usage: runner.js RUN_CONFIG.json');
    return 2;
  }
  const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as RunConfig;
  const fd = cfg.output === '-' ? 1 : openSync(cfg.output, 'w');
  const out = new Output(fd);
  out.event({ event: 'start', kernel: release(), machine: machine(), uptime: uptime(), runner: process.version, expect: cfg.expect });
  // The suite host starts first: it loads tap while this process loads koffi
  // (imported only now, for that reason) and probes the profiles.
  let host: SuiteHost | null = cfg.suites.length ? new SuiteHost(cfg, out) : null;
  const [{ probeAll }, { KmsgWatcher }, sys] = await Promise.all([import('./profiles.js'), import('./kmsg-watcher.js'), import('./sys.js')]);
  const kmsg = new KmsgWatcher((e) => out.event(e));
  const profiles = probeAll();
  for (const p of profiles) out.event({ event: 'profile', ...p });
  kmsg.start();
  let worst = 0;
  for (const id of cfg.suites) {
    if (skipWithoutStarting(id, cfg, profiles, out)) continue;
    kmsg.currentSuite = id;
    // A host that died or hung in the previous suite is replaced.
    if (!host?.alive) host = new SuiteHost(cfg, out);
    worst = Math.max(worst, await runSuite(id, host, cfg, out, kmsg));
  }
  kmsg.currentSuite = null;
  await host?.close();
  await kmsg.stop();
  out.event({ event: 'end', exit: worst, uptime: uptime() });
  if (fd !== 1) {
    sys.tcdrain(fd);
    closeSync(fd);
  }
  return worst;
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    console.error(`runner: ${e.message}`);
    process.exit(6);
  },
);
