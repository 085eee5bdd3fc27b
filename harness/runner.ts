// The runner: probes the ABI profiles, has the suite host run the suites one
// after the other (a crash or hang costs that suite only: a new host runs the
// rest), forwards the TAP framed by control lines, and ends with the sentinel
// `end` event. Same code in the guest (/init starts it) and in direct mode.
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { machine, release } from 'node:os';
import { SUITE_GATES } from '../fixtures/suites.js';
import { SuiteHost } from './host-process.js';
import type { KmsgWatcher } from './kmsg-watcher.js';
import type { ProbeResult } from './profiles.js';
import { encodeEvent, type RunConfig, type RunnerEvent } from './protocol.js';

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
 * A suite whose profile is absent (and not required) is skipped here, with
 * the probe's evidence, without a round trip through the suite host.
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
