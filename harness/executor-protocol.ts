// Encoding and decoding of the executor's frames (harness/executor/PROTOCOL.md).
// Pure functions: the client, the tests and nothing else use them.

export const FRAME_MAGIC = 0x46584d4f;
export const FRAME_HEADER = 16;
export const MAX_PAYLOAD = 8 << 20;

export const REQ = { CALLS: 1, HELPER: 2, FORK: 3, EXIT: 4, PING: 5, KILL: 16, POWEROFF: 17 } as const;
/** Call flag bits (PROTOCOL.md). */
export const CALL_FLAG = { closeResult: 1, stopOnError: 2 } as const;
export const REP = {
  CALLS: 101, HELPER: 102, FORKED: 103, CHILD: 104, PONG: 105, ERROR: 106,
  READY: 110, DIED: 111, KMSG: 112, BYE: 113,
} as const;

/** One syscall argument, as the executor passes it. */
export type Arg =
  | { int: number | bigint }
  /** Bytes (or a string) copied into the guest, NUL-terminated; the pointer is passed. */
  | { in: Buffer | string }
  | { out: number }
  /** An output buffer of which only the first `ret` bytes matter (read, getdents64). */
  | { outRet: number }
  | { inout: Buffer }
  | { strv: string[] }
  /** The return value of an earlier call of the same batch. */
  | { result: number };

export interface Call {
  nr: number;
  args: Arg[];
  /** Close the return value when it is an fd: the outcome is all that matters. */
  closeResult?: boolean;
  /**
   * Fixture setup that the rest of the batch depends on: when this call
   * fails, no later call of the batch is made (each reports ECANCELED).
   */
  stopOnError?: boolean;
}

export interface CallResult {
  ret: number;
  /** 0 unless ret is -1. */
  errno: number;
  /** OUT and INOUT buffers, in argument order. */
  outs: Buffer[];
}

export function fnv1a(buf: Buffer): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < buf.length; i++) {
    h ^= buf[i]!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** A growable little-endian writer: one buffer, doubled when full (a batch encodes thousands of fields). */
class Writer {
  private buf = Buffer.allocUnsafe(4096);
  private at = 0;
  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  }
  u8(v: number): this {
    this.room(1);
    this.buf[this.at++] = v & 0xff;
    return this;
  }
  u32(v: number): this {
    this.room(4);
    this.at = this.buf.writeUInt32LE(v >>> 0, this.at);
    return this;
  }
  i32(v: number): this {
    this.room(4);
    this.at = this.buf.writeInt32LE(v, this.at);
    return this;
  }
  i64(v: number | bigint): this {
    this.room(8);
    if (typeof v === 'bigint' || !Number.isSafeInteger(v)) {
      this.at = this.buf.writeBigInt64LE(BigInt(v), this.at);
    } else {
      // Two's complement from the 32-bit halves, without a BigInt per field.
      const hi = Math.floor(v / 0x100000000);
      this.buf.writeUInt32LE(v - hi * 0x100000000, this.at);
      this.buf.writeInt32LE(hi, this.at + 4);
      this.at += 8;
    }
    return this;
  }
  str(v: Buffer | string): this {
    const n = typeof v === 'string' ? Buffer.byteLength(v) : v.length;
    this.u32(n);
    this.room(n);
    if (typeof v === 'string') this.buf.write(v, this.at, 'utf8');
    else v.copy(this.buf, this.at);
    this.at += n;
    return this;
  }
  strv(v: string[]): this {
    this.u32(v.length);
    for (const s of v) this.str(s);
    return this;
  }
  done(): Buffer {
    return this.buf.subarray(0, this.at);
  }
}

export class DecodeError extends Error {}

/** A bounds-checked reader: a short body is a DecodeError, never garbage. */
class Reader {
  private at = 0;
  constructor(private readonly b: Buffer) {}
  private need(n: number): void {
    if (this.at + n > this.b.length) throw new DecodeError(`payload too short (${this.b.length} bytes, need ${this.at + n})`);
  }
  u8(): number {
    this.need(1);
    return this.b.readUInt8(this.at++);
  }
  u32(): number {
    this.need(4);
    const v = this.b.readUInt32LE(this.at);
    this.at += 4;
    return v;
  }
  i32(): number {
    this.need(4);
    const v = this.b.readInt32LE(this.at);
    this.at += 4;
    return v;
  }
  i64(): number {
    this.need(8);
    const v = this.b.readBigInt64LE(this.at);
    this.at += 8;
    return Number(v);
  }
  bytes(): Buffer {
    const n = this.u32();
    this.need(n);
    const v = this.b.subarray(this.at, this.at + n);
    this.at += n;
    return Buffer.from(v);
  }
  str(): string {
    return this.bytes().toString('utf8');
  }
  strv(): string[] {
    const n = this.u32();
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(this.str());
    return out;
  }
  end(): void {
    if (this.at !== this.b.length) throw new DecodeError(`${this.b.length - this.at} trailing bytes in payload`);
  }
}

export function encodeFrame(seq: number, payload: Buffer): Buffer {
  if (payload.length > MAX_PAYLOAD) throw new Error(`frame payload of ${payload.length} bytes exceeds ${MAX_PAYLOAD}`);
  const padded = (payload.length + 7) & ~7;
  const frame = Buffer.alloc(FRAME_HEADER + padded);
  frame.writeUInt32LE(FRAME_MAGIC, 0);
  frame.writeUInt32LE(payload.length, 4);
  frame.writeUInt32LE(fnv1a(payload), 8);
  frame.writeUInt32LE(seq >>> 0, 12);
  payload.copy(frame, FRAME_HEADER);
  return frame;
}

export type FrameEvent = { seq: number; payload: Buffer } | { corrupt: string };

/**
 * Splits a byte stream into frames. A wrong magic or sum yields one
 * `corrupt` event and a resync on the next magic: never a payload.
 */
export class FrameSplitter {
  private buf: Buffer = Buffer.alloc(0);
  push(chunk: Buffer): FrameEvent[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const events: FrameEvent[] = [];
    for (;;) {
      if (this.buf.length < FRAME_HEADER) break;
      if (this.buf.readUInt32LE(0) !== FRAME_MAGIC) {
        const next = this.findMagic(1);
        events.push({ corrupt: `${next < 0 ? this.buf.length : next} bytes outside any frame` });
        this.buf = next < 0 ? this.buf.subarray(Math.max(0, this.buf.length - 3)) : this.buf.subarray(next);
        if (next < 0) break;
        continue;
      }
      const len = this.buf.readUInt32LE(4);
      if (len > MAX_PAYLOAD) {
        events.push({ corrupt: `frame length ${len} exceeds ${MAX_PAYLOAD}` });
        this.skipToNextMagic();
        continue;
      }
      const total = FRAME_HEADER + ((len + 7) & ~7);
      if (this.buf.length < total) break;
      const payload = Buffer.from(this.buf.subarray(FRAME_HEADER, FRAME_HEADER + len));
      const sum = this.buf.readUInt32LE(8);
      const seq = this.buf.readUInt32LE(12);
      if (fnv1a(payload) !== sum) {
        events.push({ corrupt: `checksum mismatch in a ${len}-byte frame (seq ${seq})` });
        this.skipToNextMagic();
        continue;
      }
      events.push({ seq, payload });
      this.buf = this.buf.subarray(total);
    }
    return events;
  }
  private findMagic(from: number): number {
    const m = Buffer.alloc(4);
    m.writeUInt32LE(FRAME_MAGIC);
    return this.buf.indexOf(m, from);
  }
  private skipToNextMagic(): void {
    const next = this.findMagic(1);
    this.buf = next < 0 ? Buffer.alloc(0) : this.buf.subarray(next);
  }
}

// --- requests ---------------------------------------------------------------

function writeArg(w: Writer, a: Arg): void {
  if ('int' in a) w.u8(0).i64(a.int);
  else if ('in' in a) w.u8(1).str(a.in);
  else if ('out' in a) w.u8(2).u32(a.out);
  else if ('outRet' in a) w.u8(6).u32(a.outRet);
  else if ('inout' in a) w.u8(3).str(a.inout);
  else if ('strv' in a) w.u8(4).strv(a.strv);
  else w.u8(5).u32(a.result);
}

export function encodeCalls(calls: Call[]): Buffer {
  const w = new Writer().u32(REQ.CALLS).u32(calls.length);
  for (const c of calls) {
    w.u32(c.nr).u8((c.closeResult ? CALL_FLAG.closeResult : 0) | (c.stopOnError ? CALL_FLAG.stopOnError : 0)).u8(c.args.length);
    for (const a of c.args) writeArg(w, a);
  }
  return w.done();
}

export interface HelperRequest {
  path: string;
  argv: string[];
  /** Executor-side fds that become fds 3, 4, ... of the helper. */
  fds?: number[];
  timeoutMs?: number;
}

export function encodeHelper(h: HelperRequest): Buffer {
  const w = new Writer().u32(REQ.HELPER).str(h.path).strv(h.argv).u32(h.fds?.length ?? 0);
  for (const fd of h.fds ?? []) w.i32(fd);
  return w.u32(h.timeoutMs ?? 0).done();
}

export function encodeSimple(type: number): Buffer {
  return new Writer().u32(type).done();
}

export function encodeExit(code: number): Buffer {
  return new Writer().u32(REQ.EXIT).i32(code).done();
}

// --- replies ----------------------------------------------------------------

export interface HelperReply {
  exit: number | null;
  signal: number | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
}

export type Reply =
  | { type: 'calls'; results: CallResult[] }
  | { type: 'helper'; helper: HelperReply }
  | { type: 'forked'; pid: number }
  | { type: 'child'; exit: number | null; signal: number | null }
  | { type: 'pong' }
  | { type: 'error'; message: string }
  | { type: 'ready'; release: string; machine: string; channel: string; pid: number }
  | { type: 'died'; exit: number | null; signal: number | null }
  | { type: 'kmsg'; lines: string[] }
  | { type: 'bye' };

const orNull = (v: number, none: number) => (v === none ? null : v);

export function decodeReply(payload: Buffer): Reply {
  const r = new Reader(payload);
  const type = r.u32();
  let reply: Reply;
  switch (type) {
    case REP.CALLS: {
      const n = r.u32();
      const results: CallResult[] = [];
      for (let i = 0; i < n; i++) {
        const ret = r.i64();
        const errno = r.i32();
        const nouts = r.u32();
        const outs: Buffer[] = [];
        for (let j = 0; j < nouts; j++) outs.push(r.bytes());
        results.push({ ret, errno, outs });
      }
      reply = { type: 'calls', results };
      break;
    }
    case REP.HELPER: {
      const exit = r.i32();
      const signal = r.i32();
      const timedOut = r.u8() !== 0;
      reply = { type: 'helper', helper: { exit: orNull(exit, -1), signal: orNull(signal, 0), timedOut, stdout: r.str(), stderr: r.str() } };
      break;
    }
    case REP.FORKED:
      reply = { type: 'forked', pid: r.i32() };
      break;
    case REP.CHILD:
    case REP.DIED: {
      const exit = orNull(r.i32(), -1);
      const signal = orNull(r.i32(), 0);
      reply = { type: type === REP.CHILD ? 'child' : 'died', exit, signal };
      break;
    }
    case REP.PONG:
      reply = { type: 'pong' };
      break;
    case REP.ERROR:
      reply = { type: 'error', message: r.str() };
      break;
    case REP.READY:
      reply = { type: 'ready', release: r.str(), machine: r.str(), channel: r.str(), pid: r.i32() };
      break;
    case REP.KMSG:
      reply = { type: 'kmsg', lines: r.strv() };
      break;
    case REP.BYE:
      reply = { type: 'bye' };
      break;
    default:
      throw new DecodeError(`unknown reply type ${type}`);
  }
  r.end();
  return reply;
}

// Test-only encoders of replies (the guest's side), so codec tests can round-trip.
export function encodeReadyForTest(release: string, machine: string, channel: string, pid: number): Buffer {
  return new Writer().u32(REP.READY).str(release).str(machine).str(channel).i32(pid).done();
}
