// The in-process backend: koffi binds libc's variadic syscall(2), so glibc
// never rewrites flags (its open(2) wrapper may add O_LARGEFILE or route to
// openat). Used by direct mode and the board bundle; also the reference the
// executor is checked against (test/parity.host.test.ts).
import { spawnSync } from 'node:child_process';
import { constants as osConstants, machine, release } from 'node:os';
import koffi from 'koffi';
import { errnoName, NR, O, SEEK_END } from './abi.js';
import type { Arg, Call, CallResult, HelperReply, HelperRequest } from './executor-protocol.js';
import { localGuestDir } from './guest-dir.js';
import { startLocalExecutor } from './local-executor.js';
import { Target, type Backend } from './target.js';

const libc = koffi.load('libc.so.6');
// long syscall(long number, ...); arguments are passed with explicit types.
const rawSyscall = libc.func('long syscall(long, ...)');
const NR_CLOSE = 3;
/** A call after a failed stopOnError call of its batch: not made. */
const NOT_MADE: CallResult = { ret: -1, errno: osConstants.errno.ECANCELED, outs: [] };

type Typed = [string, unknown];

function withNul(b: Buffer | string): Buffer {
  const bytes = typeof b === 'string' ? Buffer.from(b) : b;
  const out = Buffer.alloc(bytes.length + 1);
  bytes.copy(out);
  return out;
}

export function ffiCall(c: Call, earlier: CallResult[]): CallResult {
  const flat: unknown[] = [c.nr];
  const outs: Buffer[] = [];
  const trimmed: number[] = []; // indexes in outs of OUT_RET buffers
  for (const a of c.args as Arg[]) {
    let typed: Typed;
    if ('int' in a) typed = ['long', a.int];
    else if ('in' in a) typed = ['void *', withNul(a.in)];
    else if ('out' in a) {
      const b = Buffer.alloc(a.out);
      outs.push(b);
      typed = ['void *', b];
    } else if ('outRet' in a) {
      const b = Buffer.alloc(a.outRet);
      trimmed.push(outs.length);
      outs.push(b);
      typed = ['void *', b];
    } else if ('inout' in a) {
      const b = Buffer.from(a.inout);
      outs.push(b);
      typed = ['void *', b];
    } else if ('strv' in a) typed = ['void *', koffi.as([...a.strv, null], 'char **')];
    else {
      const prior = earlier[a.result];
      if (!prior) throw new Error(`call refers to result ${a.result} of a batch of ${earlier.length}`);
      typed = ['long', prior.ret];
    }
    flat.push(...typed);
  }
  const ret = Number(rawSyscall(...flat));
  const errno = ret === -1 ? koffi.errno() : 0;
  if (c.closeResult && ret >= 0) rawSyscall(NR_CLOSE, 'long', ret);
  for (const i of trimmed) outs[i] = outs[i]!.subarray(0, Math.max(0, Math.min(ret, outs[i]!.length)));
  return { ret, errno, outs };
}

const KMSG_LEVEL_WARNING = 4;

/**
 * Reads what the kernel logged since the last call (warning or worse), the
 * way the executor's supervisor does after each request: a WARNING a batch
 * caused is reported before the batch's results.
 */
class KmsgReader {
  private fd = -1;
  constructor() {
    const r = ffiCall({ nr: NR.open, args: [{ in: '/dev/kmsg' }, { int: O.RDONLY | O.NONBLOCK | O.CLOEXEC }, { int: 0 }] }, []);
    if (r.ret < 0) return; // not root, or no /dev/kmsg: the console scan remains
    this.fd = r.ret;
    ffiCall({ nr: NR.lseek, args: [{ int: this.fd }, { int: 0 }, { int: SEEK_END }] }, []);
  }
  drain(): string[] {
    const lines: string[] = [];
    if (this.fd < 0) return lines;
    for (;;) {
      const r = ffiCall({ nr: NR.read, args: [{ int: this.fd }, { out: 8192 }, { int: 8192 }] }, []);
      if (r.ret < 0) {
        if (errnoName(r.errno) === 'EPIPE') continue; // records overwritten: resume with the next one
        return lines; // EAGAIN: nothing more for now
      }
      const text = r.outs[0]!.toString('utf8', 0, r.ret);
      const level = Number(text.slice(0, text.indexOf(','))) & 7;
      if (level <= KMSG_LEVEL_WARNING) lines.push(text.slice(text.indexOf(';') + 1).split('\n')[0] ?? '');
    }
  }
}

export class FfiBackend implements Backend {
  readonly kind = 'ffi' as const;
  /** The machine's own kernel: the suite loads no modules into it. */
  readonly onDemandModuleDir = null;
  private readonly kmsg: KmsgReader | null;

  /** onKmsg: kernel log lines (warning or worse) logged during each batch. */
  constructor(private readonly onKmsg?: (lines: string[]) => void) {
    this.kmsg = onKmsg ? new KmsgReader() : null;
  }

  private reportKmsg(): void {
    const lines = this.kmsg?.drain() ?? [];
    if (lines.length) this.onKmsg!(lines);
  }

  async calls(batch: Call[]): Promise<CallResult[]> {
    // A batch is a plain loop here: same calls, same order as the executor.
    const results: CallResult[] = [];
    let stopped = false;
    for (const c of batch) {
      const r: CallResult = stopped ? NOT_MADE : ffiCall(c, results);
      stopped ||= c.stopOnError === true && r.ret === -1;
      results.push(r);
    }
    this.reportKmsg();
    return results;
  }

  async helper(req: HelperRequest): Promise<HelperReply> {
    const fds = req.fds ?? [];
    const r = spawnSync(req.path, req.argv.slice(1), {
      argv0: req.argv[0],
      stdio: ['ignore', 'pipe', 'pipe', ...fds],
      encoding: 'utf8',
      env: { PATH: '/bin:/usr/bin' },
      timeout: req.timeoutMs || undefined,
      killSignal: 'SIGKILL',
    });
    if (r.error && (r.error as NodeJS.ErrnoException).code !== 'ETIMEDOUT') {
      return { exit: 127, signal: null, timedOut: false, stdout: '', stderr: `exec ${req.path}: ${r.error.message}` };
    }
    const timedOut = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT';
    const sig = r.signal ? signalNumber(r.signal) : null;
    this.reportKmsg();
    return { exit: r.status, signal: sig, timedOut, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  helperPath(name: string): string {
    return `${localGuestDir()}/helpers/${name}`;
  }

  /** A fresh process: the executor, started here as a child over pipes. */
  async withChild<T>(fn: (child: Target) => Promise<T>): Promise<T> {
    const local = await startLocalExecutor();
    try {
      return await fn(new Target(local.backend));
    } finally {
      await local.stop();
    }
  }

  async identity(): Promise<{ release: string; machine: string }> {
    return { release: release(), machine: machine() };
  }
}

function signalNumber(name: NodeJS.Signals): number {
  return (osConstants.signals as Record<string, number>)[name] ?? 0;
}
