// The host's side of one VM run: wait for the guest's executor on whichever
// channel it opened, run the suites against it (harness/runner.ts), and
// power the guest off. What ends the session early (a dead guest, a lost
// channel) is returned as an error text: the verdict then comes from what
// was observed (console, QEMU's fate, a missing sentinel).
import { writeFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { ExecutorBackend } from '../harness/executor-backend.js';
import { ExecutorClient, type DiedInfo } from '../harness/executor-client.js';
import { REQ } from '../harness/executor-protocol.js';
import type { RunConfig } from '../harness/protocol.js';
import { Runner } from '../harness/runner.js';
import { Target } from '../harness/target.js';
import type { FifoChannel } from './fifo-channel.js';
import { GUEST_ON_DEMAND_MODULES } from './initramfs.js';
import type { RunningQemu } from './qemu.js';

export interface SessionResult {
  channel: string | null;
  error: string | null;
  roundTrips: number;
  microsPerRoundTrip: number | null;
  batchSizes: number[];
  /** Host ms from QEMU start to the executor's READY. */
  readyAtMs: number | null;
}

const POWEROFF_MS = 10_000;
const READY_AFTER_DEATH_MS = 30_000;

function signalName(n: number | null): string | null {
  if (n === null) return null;
  const entry = Object.entries(osConstants.signals).find(([, v]) => v === n);
  return entry ? entry[0] : `signal ${n}`;
}

/** Development aid (OMAYEXEC_TRACE=FILE): one line per round trip, to see where a run's time goes. */
function writeTrace(path: string, trace: NonNullable<ExecutorClient['trace']>, startedAt: number): void {
  const names = Object.fromEntries(Object.entries(REQ).map(([k, v]) => [v, k]));
  const rows = trace.map((t) => `${(t.at - startedAt).toFixed(1)}\t${t.ms.toFixed(2)}\t${names[t.type] ?? t.type}\t${t.calls}`);
  writeFileSync(path, ['start_ms\tms\ttype\tcalls', ...rows].join('\n') + '\n');
}

/** The first channel the guest writes on; null when QEMU exits (or is killed) first. */
async function pickChannel(q: RunningQemu): Promise<FifoChannel | null> {
  const first = await Promise.race([...q.channels.map((c) => c.firstData.then(() => c)), q.exited.then(() => null, () => null)]);
  // The other channel stays open until QEMU exits: closing the host's end of
  // a pipe chardev makes QEMU read EOF in a busy loop (seen: both host cores
  // pegged, the guest starved).
  return first;
}

export async function runGuestSession(q: RunningQemu, cfg: RunConfig, out: (line: string) => void, bootTimeoutSec: number, startedAt: number): Promise<SessionResult> {
  const result: SessionResult = { channel: null, error: null, roundTrips: 0, microsPerRoundTrip: null, batchSizes: [], readyAtMs: null };
  const channel = await pickChannel(q);
  if (!channel) return { ...result, error: 'QEMU ended before the executor said READY' };
  result.channel = channel.name;
  let runner: Runner | null = null;
  let death: DiedInfo | null = null;
  let awaitingReady = false;
  let backend: ExecutorBackend | null = null;
  const tracePath = process.env.OMAYEXEC_TRACE;
  const client = new ExecutorClient(channel, {
    onKmsg: (lines) => runner?.kernelLog(lines),
    onDied: (d) => {
      death = d;
      runner?.targetDied();
      awaitingReady = true;
    },
    onReady: (r) => {
      awaitingReady = false;
      backend?.replaced(r);
    },
  }, Boolean(tracePath));
  try {
    const ready = await client.ready(bootTimeoutSec * 1000);
    q.booted();
    result.readyAtMs = performance.now() - startedAt;
    backend = new ExecutorBackend(client, ready, '/omx/helpers', GUEST_ON_DEMAND_MODULES);
    const b = backend;
    runner = new Runner(new Target(b), cfg, out, {
      describe: { target: 'executor', channel: channel.name },
      onTimeout: async () => {
        await client.killExecutor();
      },
      takeDeath: () => {
        const d = death as DiedInfo | null;
        death = null;
        return d ? { exit: d.exit, signal: signalName(d.signal) } : null;
      },
      recover: async () => {
        if (awaitingReady) b.replaced(await client.ready(READY_AFTER_DEATH_MS));
      },
      lost: () => (client.closed ? 'the executor channel closed (guest gone)' : null),
      finish: () => b.ping(),
    });
    await runner.run();
    await b.powerOff(POWEROFF_MS);
  } catch (e) {
    result.error = (e as Error).message;
  } finally {
    result.roundTrips = client.roundTrips;
    result.microsPerRoundTrip = client.roundTrips ? Math.round((client.roundTripMs * 1000) / client.roundTrips) : null;
    result.batchSizes = backend?.batchSizes ?? [];
    if (tracePath && client.trace) writeTrace(tracePath, client.trace, startedAt);
  }
  return result;
}
