// The executor client on a scripted channel (no guest): replies are matched
// by sequence number; a corrupt frame, an undecodable one, a dead executor
// or a closed channel fail the pending request and never become a result.
import t, { type Test } from 'tap';
import { ExecutorClient, ChannelClosedError, CorruptFrameError, ExecutorDiedError, RequestTimeoutError, type Channel } from '../harness/executor-client.js';
import { encodeFrame, encodeReadyForTest, encodeSimple, FrameSplitter, REP, REQ } from '../harness/executor-protocol.js';

class ScriptedChannel implements Channel {
  readonly name = 'scripted';
  sent: Buffer[] = [];
  private onData: (b: Buffer) => void = () => {};
  private onClose: (why: string) => void = () => {};
  write(b: Buffer): void {
    this.sent.push(b);
  }
  listen(d: (b: Buffer) => void, c: (why: string) => void): void {
    this.onData = d;
    this.onClose = c;
  }
  close(): void {}
  feed(b: Buffer): void {
    this.onData(b);
  }
  end(why: string): void {
    this.onClose(why);
  }
  lastSeq(): number {
    return this.sent[this.sent.length - 1]!.readUInt32LE(12);
  }
}

/** The promise rejects with an instance of `kind` (tap's rejects() compares a class as a pattern). */
async function rejectsWith(t: Test, p: Promise<unknown>, kind: new (...a: never[]) => Error, msg: string): Promise<void> {
  const e = await p.then(() => null, (x: unknown) => x);
  t.ok(e instanceof kind, `${msg} (${e instanceof Error ? e.message : 'resolved'})`);
}

/** Requests go out once the earlier ones are answered: after a turn of the event loop. */
const tick = () => new Promise((r) => setImmediate(r));

const reply = (type: number, body: Buffer = Buffer.alloc(0)) => {
  const head = Buffer.alloc(4);
  head.writeUInt32LE(type);
  return Buffer.concat([head, body]);
};
const i32s = (...v: number[]) => Buffer.concat(v.map((x) => { const b = Buffer.alloc(4); b.writeInt32LE(x); return b; }));

t.test('frames: padded to 8 bytes, split across chunks, checksum enforced', async (t) => {
  const f = encodeFrame(7, Buffer.from('abc'));
  t.equal(f.length % 8, 0, 'padded');
  const s = new FrameSplitter();
  t.same(s.push(f.subarray(0, 5)), [], 'half a frame: nothing yet');
  const [ev] = s.push(f.subarray(5));
  t.same(ev, { seq: 7, payload: Buffer.from('abc') }, 'whole frame after the second chunk');
  const bad = Buffer.from(f);
  bad[16] ^= 0xff; // a payload byte
  const evs = new FrameSplitter().push(Buffer.concat([bad, encodeFrame(8, Buffer.from('ok'))]));
  t.match(evs[0], { corrupt: /checksum/ }, 'a flipped byte is reported corrupt');
  t.same(evs[1], { seq: 8, payload: Buffer.from('ok') }, 'and the next frame is still read');
});

t.test('a reply is matched by seq; a corrupt frame fails the request', async (t) => {
  const ch = new ScriptedChannel();
  const c = new ExecutorClient(ch);
  ch.feed(encodeFrame(0, encodeReadyForTest('6.1.0', 'x86_64', 'scripted', 42)));
  t.match(await c.ready(100), { type: 'ready', release: '6.1.0', pid: 42 });
  const p1 = c.request(encodeSimple(REQ.PING));
  await tick();
  ch.feed(encodeFrame(ch.lastSeq(), reply(REP.PONG)));
  t.match(await p1, { type: 'pong' });
  const p2 = c.request(encodeSimple(REQ.PING));
  await tick();
  const corrupt = encodeFrame(ch.lastSeq(), reply(REP.PONG));
  corrupt[8] ^= 1; // the checksum
  ch.feed(corrupt);
  await rejectsWith(t, p2, CorruptFrameError, 'corrupt frame: the request fails');
  const p3 = c.request(encodeSimple(REQ.PING));
  await tick();
  ch.feed(encodeFrame(ch.lastSeq(), reply(999)));
  await rejectsWith(t, p3, CorruptFrameError, 'an unknown reply type is not a result either');
});

t.test('the executor dying, a timeout or a closed channel fail the pending request', async (t) => {
  const ch = new ScriptedChannel();
  let died = 0;
  const c = new ExecutorClient(ch, { onDied: () => died++ });
  const p1 = c.request(encodeSimple(REQ.PING));
  await tick();
  ch.feed(encodeFrame(0, reply(REP.DIED, i32s(-1, 11))));
  await rejectsWith(t, p1, ExecutorDiedError, 'DIED (seq 0) fails the pending request');
  t.equal(died, 1, 'and reaches the hook');
  await rejectsWith(t, c.request(encodeSimple(REQ.PING), 20), RequestTimeoutError, 'no reply: a timeout');
  const p3 = c.request(encodeSimple(REQ.PING));
  await tick();
  ch.end('QEMU exited');
  await rejectsWith(t, p3, ChannelClosedError, 'closed channel: the request fails');
  await rejectsWith(t, c.request(encodeSimple(REQ.PING)), ChannelClosedError, 'and so does every later one');
});
