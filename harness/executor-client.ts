// The host's end of the executor channel: sends one request at a time and
// waits for its reply, with a deadline. What the guest says unprompted
// (kernel log lines, an executor that died, a fresh executor ready) goes to
// hooks. A corrupt frame, a dead executor or a closed channel fails the
// pending request: nothing but a well-formed reply is ever a result.
import {
  decodeReply, DecodeError, encodeFrame, encodeSimple, FrameSplitter, REQ, type Reply,
} from './executor-protocol.js';

/** A byte channel to a supervisor: QEMU's FIFOs, or a local child's pipes. */
export interface Channel {
  readonly name: string;
  write(bytes: Buffer): void;
  /** Data (buffered until the first listener attaches) and the end of the channel. */
  listen(onData: (b: Buffer) => void, onClose: (why: string) => void): void;
  close(): void;
}

export type ReadyInfo = Extract<Reply, { type: 'ready' }>;
export type DiedInfo = Extract<Reply, { type: 'died' }>;

export class ExecutorError extends Error {}
/** The executor died while it ran the request (crash, or killed for a timeout). */
export class ExecutorDiedError extends ExecutorError {
  constructor(readonly exit: number | null, readonly signal: number | null, why: string) {
    super(why);
  }
}
export class RequestTimeoutError extends ExecutorError {}
export class ChannelClosedError extends ExecutorError {}
export class CorruptFrameError extends ExecutorError {}

export interface ClientHooks {
  onKmsg?: (lines: string[]) => void;
  onDied?: (d: DiedInfo) => void;
  onReady?: (r: ReadyInfo) => void;
}

interface Pending {
  seq: number;
  resolve: (r: Reply) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | null;
}

const KILL_ANSWER_MS = 10_000;

export class ExecutorClient {
  private seq = 0;
  private pending: Pending | null = null;
  private readyWaiters: { resolve: (r: ReadyInfo) => void; reject: (e: Error) => void }[] = [];
  private lastReady: ReadyInfo | null = null;
  private closedWhy: string | null = null;
  private readonly splitter = new FrameSplitter();
  /** Absolute time (performance.now() ms) after which requests time out; null: none. */
  deadline: number | null = null;
  /** Round trips made (for the benchmark). */
  roundTrips = 0;
  roundTripMs = 0;
  /** Every round trip (start ms, duration ms, request type, calls in it), when asked for. */
  readonly trace: { at: number; ms: number; type: number; calls: number }[] | null;

  constructor(private readonly channel: Channel, private readonly hooks: ClientHooks = {}, traced = false) {
    this.trace = traced ? [] : null;
    channel.listen((b) => this.onData(b), (why) => this.onClose(why));
  }

  get channelName(): string {
    return this.channel.name;
  }

  get closed(): boolean {
    return this.closedWhy !== null;
  }

  /** The next READY (or the one that already came and was not consumed). */
  ready(timeoutMs: number): Promise<ReadyInfo> {
    if (this.lastReady) {
      const r = this.lastReady;
      this.lastReady = null;
      return Promise.resolve(r);
    }
    if (this.closedWhy) return Promise.reject(new ChannelClosedError(this.closedWhy));
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: (r: ReadyInfo) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this.readyWaiters = this.readyWaiters.filter((w) => w !== waiter);
        reject(new RequestTimeoutError(`no executor ready within ${timeoutMs} ms`));
      }, timeoutMs);
      this.readyWaiters.push(waiter);
    });
  }

  private queue: Promise<unknown> = Promise.resolve();

  /**
   * Send one request once the earlier ones are answered; resolves with its
   * reply, rejects on timeout, death, corruption or close.
   */
  request(payload: Buffer, timeoutMs?: number): Promise<Reply> {
    const next = this.queue.then(() => this.send(payload, timeoutMs));
    this.queue = next.catch(() => {});
    return next;
  }

  private send(payload: Buffer, timeoutMs?: number): Promise<Reply> {
    if (this.pending) return Promise.reject(new ExecutorError('executor client: a request is already pending'));
    if (this.closedWhy) return Promise.reject(new ChannelClosedError(this.closedWhy));
    const seq = (this.seq = (this.seq % 0x7fffffff) + 1);
    const left = timeoutMs ?? (this.deadline === null ? null : Math.max(1, this.deadline - performance.now()));
    const t0 = performance.now();
    return new Promise<Reply>((resolve, reject) => {
      const p: Pending = { seq, resolve, reject, timer: null };
      if (left !== null) {
        p.timer = setTimeout(() => {
          this.pending = null;
          reject(new RequestTimeoutError(`no reply within ${Math.round(left)} ms`));
        }, left);
      }
      this.pending = p;
      this.channel.write(encodeFrame(seq, payload));
    }).finally(() => {
      const ms = performance.now() - t0;
      this.roundTrips++;
      this.roundTripMs += ms;
      const type = payload.readUInt32LE(0);
      this.trace?.push({ at: t0, ms, type, calls: type === REQ.CALLS ? payload.readUInt32LE(4) : 0 });
    });
  }

  /**
   * SIGKILL the executor (its process group) and wait for the supervisor's
   * DIED answer and the fresh executor's READY. Used after a timeout.
   */
  async killExecutor(): Promise<ReadyInfo> {
    this.failPending(new ExecutorDiedError(null, 9, 'executor killed by the host'));
    this.lastReady = null;
    // Ahead of anything queued: the queue waits on the request just failed.
    const died = await this.send(encodeSimple(REQ.KILL), KILL_ANSWER_MS);
    if (died.type !== 'died') throw new ExecutorError(`KILL answered ${died.type}`);
    return this.ready(KILL_ANSWER_MS);
  }

  close(): void {
    this.channel.close();
    this.onClose('closed by the host');
  }

  private failPending(e: Error): void {
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    if (p.timer) clearTimeout(p.timer);
    p.reject(e);
  }

  private onData(chunk: Buffer): void {
    for (const ev of this.splitter.push(chunk)) {
      if ('corrupt' in ev) {
        this.failPending(new CorruptFrameError(`corrupt frame from the guest: ${ev.corrupt}`));
        continue;
      }
      let reply: Reply;
      try {
        reply = decodeReply(ev.payload);
      } catch (e) {
        this.failPending(new CorruptFrameError(`undecodable frame from the guest: ${(e as DecodeError).message}`));
        continue;
      }
      this.onReply(ev.seq, reply);
    }
  }

  private onReply(seq: number, reply: Reply): void {
    if (reply.type === 'kmsg') {
      this.hooks.onKmsg?.(reply.lines);
      return;
    }
    if (reply.type === 'ready') {
      this.hooks.onReady?.(reply);
      const w = this.readyWaiters.shift();
      if (w) w.resolve(reply);
      else this.lastReady = reply;
      return;
    }
    if (seq === 0) {
      // Unsolicited: the executor (or a forked child) died, or the guest
      // could not read our frame. Either way the pending request has no result.
      if (reply.type === 'died') {
        this.hooks.onDied?.(reply);
        this.failPending(new ExecutorDiedError(reply.exit, reply.signal, `executor died (${describeEnd(reply.exit, reply.signal)})`));
      } else if (reply.type === 'child') {
        this.failPending(new ExecutorDiedError(reply.exit, reply.signal, `forked child died (${describeEnd(reply.exit, reply.signal)})`));
      } else if (reply.type === 'error') {
        this.failPending(new CorruptFrameError(`guest rejected a frame: ${reply.message}`));
      }
      return;
    }
    const p = this.pending;
    if (!p || p.seq !== seq) return; // the late answer of a request that timed out
    this.pending = null;
    if (p.timer) clearTimeout(p.timer);
    if (reply.type === 'died') this.hooks.onDied?.(reply);
    p.resolve(reply);
  }

  private onClose(why: string): void {
    if (this.closedWhy) return;
    this.closedWhy = why;
    this.failPending(new ChannelClosedError(`executor channel closed: ${why}`));
    for (const w of this.readyWaiters.splice(0)) w.reject(new ChannelClosedError(`executor channel closed: ${why}`));
  }
}

export function describeEnd(exit: number | null, signal: number | null): string {
  if (signal !== null) return `signal ${signal}`;
  return `exit ${exit}`;
}
