// The runner: probes the ABI profiles, runs each suite in its own node
// process (a crash or hang stays contained), forwards the TAP framed by
// control lines, and ends with the sentinel `end` event. Same code in the
// guest (/init starts it) and in direct mode.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, writeSync } from 'node:fs';
import { machine, release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { SUITE_GATES } from '../fixtures/suites.js';
import { isFatal, scanConsoleLine } from './kernel-signs.js';
import { probeAll, type ProbeResult } from './profiles.js';
import { encodeEvent, type RunConfig, type RunnerEvent } from './protocol.js';
import * as sys from './sys.js';

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

/**
 * Watches /dev/kmsg for WARNINGs and hung tasks and reports each one in the
 * results stream, in order with the suite's output: a warning raised by a
 * suite's syscall comes after the TAP lines the suite wrote before that
 * syscall, so reporting it once the pipe has been drained places it right
 * before the line of the case that caused it.
 */
class KmsgWatcher {
  private fd = -1;
  private timer: NodeJS.Timeout | null = null;
  currentSuite: string | null = null;

  constructor(private readonly out: Output) {}

  start(): void {
    const r = sys.open('/dev/kmsg', sys.O.RDONLY | sys.O.NONBLOCK | sys.O.CLOEXEC);
    if (!r.ok) return; // no /dev/kmsg (or not root): the host's console scan remains
    this.fd = r.ret;
    sys.lseek(this.fd, 0, sys.SEEK_END);
    this.timer = setInterval(() => this.poll(), 50);
  }

  poll(): void {
    for (;;) {
      const { result, data } = sys.readFd(this.fd, 8192);
      if (!result.ok) {
        if (result.errno === 'EPIPE') continue; // records overwritten: resume with the next one
        return; // EAGAIN: nothing more for now
      }
      const text = data.toString('utf8');
      const message = text.slice(text.indexOf(';') + 1).split('\n')[0] ?? '';
      const sign = scanConsoleLine(message);
      if (!sign || isFatal(sign.kind)) continue;
      const suite = this.currentSuite;
      // Let the event loop drain what the suite wrote before the warning.
      setTimeout(() => this.out.event({ event: 'kernel-sign', suite, kind: sign.kind, line: sign.line }), 50);
    }
  }

  /** Report what is pending (a suite is about to end). */
  async flush(): Promise<void> {
    if (this.fd < 0) return;
    this.poll();
    await new Promise((r) => setTimeout(r, 60));
  }

  async stop(): Promise<void> {
    await this.flush();
    if (this.timer) clearInterval(this.timer);
    if (this.fd >= 0) sys.close(this.fd);
  }
}

function suitePath(id: string): string {
  // Extra suites (the project's fault tests) in direct mode; the guest has
  // them copied into /omx/suites.
  const extra = process.env.OMAYEXEC_EXTRA_SUITES;
  if (extra && existsSync(`${extra}/${id}.js`)) return `${extra}/${id}.js`;
  return fileURLToPath(new URL(`./suites/${id}.js`, import.meta.url));
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

function runSuite(id: string, cfg: RunConfig, out: Output, kmsg: KmsgWatcher): Promise<number> {
  out.event({ event: 'suite-begin', suite: id });
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, [suitePath(id)], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      OMAYEXEC_EXPECT: cfg.expect.join(','),
      OMAYEXEC_FRESH_BOOT: cfg.freshBoot ? '1' : '0',
      OMAYEXEC_OVERRIDES: JSON.stringify(cfg.overrides ?? {}),
      // The runner enforces the suite timeout; tap's own default (30 s)
      // would cut a slow suite short under emulation.
      TAP_TIMEOUT: '0',
      TAP_COLOR: '0',
      NO_COLOR: '1',
    },
  });
  const flushOut = forwardLines(child.stdout, (l) => out.line(l));
  const flushErr = forwardLines(child.stderr, (l) => out.event({ event: 'stderr', suite: id, line: l }));
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, cfg.suiteTimeoutSec * 1000);
  return new Promise((resolve) => {
    child.on('close', async (code, signal) => {
      clearTimeout(timer);
      flushOut();
      flushErr();
      await kmsg.flush();
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      out.event({ event: 'suite-end', suite: id, exit: code, signal, seconds, timedOut });
      // kselftest exit codes: 0 pass, 4 skip; anything else (or a signal) fails.
      resolve(timedOut || signal ? 1 : code === 0 || code === 4 ? 0 : 1);
    });
  });
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
  const profiles = probeAll();
  for (const p of profiles) out.event({ event: 'profile', ...p });
  const kmsg = new KmsgWatcher(out);
  kmsg.start();
  let worst = 0;
  for (const id of cfg.suites) {
    if (skipWithoutStarting(id, cfg, profiles, out)) continue;
    kmsg.currentSuite = id;
    worst = Math.max(worst, await runSuite(id, cfg, out, kmsg));
  }
  kmsg.currentSuite = null;
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
