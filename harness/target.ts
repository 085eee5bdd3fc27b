// The Target: everything a suite or fixture does to the kernel under test
// goes through one of these. Two backends carry the calls out: koffi in
// this process (direct mode, the board bundle) and the guest's executor
// over a channel. The file operations fixtures need are built here once,
// from the same syscalls, so both backends run exactly the same calls.
import { errnoName, O } from './abi.js';
import { calls, decodeCapData, direntNames, fileCalls, type CapSets, type FdRef } from './calls.js';
import type { Call, CallResult, HelperReply, HelperRequest } from './executor-protocol.js';

export interface SysResult {
  ok: boolean;
  /** Raw return value (fd, count...) when ok, -1 otherwise. */
  ret: number;
  /** errno name ('EACCES') when not ok. */
  errno?: string;
  /** OUT/INOUT buffers of the call, in argument order. */
  outs: Buffer[];
}

export interface Backend {
  readonly kind: 'ffi' | 'executor';
  /** Run the calls in order, each whatever the previous ones returned. */
  calls(batch: Call[]): Promise<CallResult[]>;
  /** Run a static helper program: executor side paths (see helperPath). */
  helper(req: HelperRequest): Promise<HelperReply>;
  /** Where the helper `name` is, as the target sees it. */
  helperPath(name: string): string;
  /**
   * The folder of kernel modules the target loads only when a suite needs
   * them (SuiteNeeds.modules): VM guests of kernels that ship drivers as
   * modules. null: the target loads none (direct mode, boards).
   */
  readonly onDemandModuleDir: string | null;
  /** Run `fn` in a fresh child process of the target; resolves after the child exited. */
  withChild<T>(fn: (child: Target) => Promise<T>): Promise<T>;
  /** Kernel release and machine as the target's uname says. */
  identity(): Promise<{ release: string; machine: string }>;
}

export function toSysResult(r: CallResult): SysResult {
  if (r.ret === -1) return { ok: false, ret: -1, errno: errnoName(r.errno), outs: r.outs };
  return { ok: true, ret: r.ret, outs: r.outs };
}

/** 'fd' when an open succeeded, else its errno name. */
export function openOutcome(r: SysResult): string {
  return r.ok ? 'fd' : r.errno ?? 'E?';
}

export class TargetError extends Error {}

/** open /proc/self/fd, list it, close it, for a batch in which the open is call `at`: the caller's open fds (fdCountFrom). */
export function fdCountCalls(at: number): Call[] {
  return [calls.open('/proc/self/fd', O.RDONLY | O.DIRECTORY | O.CLOEXEC), calls.getdents64({ result: at }, 1 << 16), calls.close({ result: at })];
}

export function fdCountFrom(rs: SysResult[], at: number): number {
  const [opened, listed] = [rs[at]!, rs[at + 1]!];
  if (!opened.ok || !listed.ok) throw new TargetError(`count fds: ${opened.errno ?? listed.errno}`);
  const names = direntNames(listed.outs[0]!, listed.ret).filter((n) => n !== '.' && n !== '..');
  return names.length - 1; // the directory's own fd
}

let uniqueCounter = 0;

export class Target {
  constructor(readonly backend: Backend) {}

  get kind(): 'ffi' | 'executor' {
    return this.backend.kind;
  }

  async run(call: Call): Promise<SysResult> {
    const [r] = await this.backend.calls([call]);
    return toSysResult(r!);
  }

  async runAll(batch: Call[]): Promise<SysResult[]> {
    if (!batch.length) return [];
    return (await this.backend.calls(batch)).map(toSysResult);
  }

  /** Run a call that must succeed (fixture setup); its failure is an error, never a result. */
  async must(what: string, call: Call): Promise<SysResult> {
    const r = await this.run(call);
    if (!r.ok) throw new TargetError(`fixture: ${what} failed: ${r.errno}`);
    return r;
  }

  /** Every call of a batch must succeed. */
  async mustAll(what: string, batch: Call[]): Promise<SysResult[]> {
    const rs = await this.runAll(batch);
    const bad = rs.findIndex((r) => !r.ok);
    if (bad >= 0) throw new TargetError(`fixture: ${what} (call ${bad + 1} of ${batch.length}, syscall ${batch[bad]!.nr}) failed: ${rs[bad]!.errno}`);
    return rs;
  }

  helper(req: HelperRequest): Promise<HelperReply> {
    return this.backend.helper(req);
  }

  helperPath(name: string): string {
    return this.backend.helperPath(name);
  }

  withChild<T>(fn: (child: Target) => Promise<T>): Promise<T> {
    return this.backend.withChild(fn);
  }

  identity(): Promise<{ release: string; machine: string }> {
    return this.backend.identity();
  }

  /**
   * Load the on-demand modules `names` (loop, not loop.ko) that the target
   * has, all in one round trip. A module the target does not ship is no
   * error (the driver is built in, or absent: the suite reads which); one
   * already loaded neither. Any other refusal is the kernel's, and an error.
   */
  async loadModules(names: readonly string[]): Promise<void> {
    const dir = this.backend.onDemandModuleDir;
    if (!dir || !names.length) return;
    // open, finit_module, close per module: a failed open makes the other two EBADF, not reported.
    const batch = names.flatMap((n, i) => [calls.open(`${dir}/${n}.ko`, O.RDONLY | O.CLOEXEC), calls.finit_module({ result: 3 * i }), calls.close({ result: 3 * i })]);
    const rs = await this.runAll(batch);
    names.forEach((n, i) => {
      const [opened, loaded] = [rs[3 * i]!, rs[3 * i + 1]!];
      if (!opened.ok && opened.errno === 'ENOENT') return;
      if (!opened.ok) throw new TargetError(`fixture: open module ${n}: ${opened.errno}`);
      if (!loaded.ok && loaded.errno !== 'EEXIST') throw new TargetError(`fixture: load module ${n}: finit_module: ${loaded.errno}`);
    });
  }

  // --- file operations, from the calls above ---------------------------------

  /** A name no other run or fixture uses, under `dir`. */
  uniquePath(dir: string, prefix: string): string {
    uniqueCounter++;
    return `${dir}/${prefix}${process.pid.toString(36)}${Date.now().toString(36)}${uniqueCounter}${Math.random().toString(36).slice(2, 6)}`;
  }

  /** Create (or truncate) `path` with `data`, then set `mode` exactly (umask-free). */
  async writeFile(path: string, data: Buffer | string, mode = 0o644): Promise<void> {
    const batch = fileCalls(path, data, mode);
    const rs = await this.mustAll(`write ${path}`, batch);
    const written = rs.slice(1, -2).reduce((a, r) => a + r.ret, 0);
    const size = typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    if (written !== size) throw new TargetError(`fixture: write ${path}: ${written} of ${size} bytes written`);
  }

  /** Copy a file inside the target (no bytes cross the channel); returns its size. */
  async copyFile(from: string, to: string, mode: number): Promise<number> {
    const rs = await this.runAll([
      calls.stat(from),
      calls.open(from, O.RDONLY | O.CLOEXEC),
      calls.open(to, O.WRONLY | O.CREAT | O.TRUNC | O.CLOEXEC, 0o600),
      calls.sendfile({ result: 2 }, { result: 1 }, 1 << 30),
      calls.close({ result: 1 }),
      calls.close({ result: 2 }),
      calls.chmod(to, mode),
    ]);
    const failed = rs.findIndex((r) => !r.ok);
    const size = rs[0]!.ok ? Number(rs[0]!.outs[0]!.readBigInt64LE(48)) : -1;
    if (failed >= 0 || rs[3]!.ret !== size) {
      throw new TargetError(`fixture: copy ${from} -> ${to} failed: ${failed >= 0 ? `call ${failed + 1}: ${rs[failed]!.errno}` : `${rs[3]!.ret} of ${size} bytes`}`);
    }
    return size;
  }

  /** A small file (a sysctl, /proc/uptime) in one round trip; longer than `max` is an error, never a truncation. */
  async readFile(path: string, max = 1 << 16): Promise<Buffer> {
    const rs = await this.runAll([calls.open(path, O.RDONLY | O.CLOEXEC), calls.read({ result: 0 }, max), calls.read({ result: 0 }, 1), calls.close({ result: 0 })]);
    if (!rs[0]!.ok) throw new TargetError(`read ${path}: open failed: ${rs[0]!.errno}`);
    if (!rs[1]!.ok) throw new TargetError(`read ${path}: read failed: ${rs[1]!.errno}`);
    if (rs[2]!.ok && rs[2]!.ret > 0) throw new TargetError(`read ${path}: longer than ${max} bytes (use readWholeFile)`);
    return rs[1]!.outs[0]!;
  }

  /** A file of any length, read in 64 KB chunks, four per round trip. */
  async readWholeFile(path: string): Promise<Buffer> {
    const CHUNK = 1 << 16;
    const reads = (fd: FdRef) => Array.from({ length: 4 }, () => calls.read(fd, CHUNK));
    const first = await this.runAll([calls.open(path, O.RDONLY | O.CLOEXEC), ...reads({ result: 0 })]);
    if (!first[0]!.ok) throw new TargetError(`read ${path}: open failed: ${first[0]!.errno}`);
    const fd = first[0]!.ret;
    const parts: Buffer[] = [];
    try {
      for (let rs = first.slice(1); ; rs = await this.runAll(reads(fd))) {
        for (const r of rs) {
          if (!r.ok) throw new TargetError(`read ${path}: read failed: ${r.errno}`);
          parts.push(r.outs[0]!);
        }
        if (rs[rs.length - 1]!.ret === 0) break; // end of file reached within this round
      }
    } finally {
      await this.run(calls.close(fd));
    }
    return Buffer.concat(parts);
  }

  /** Whether `path` exists (stat succeeds). */
  async exists(path: string): Promise<boolean> {
    return (await this.run(calls.stat(path))).ok;
  }

  /** st_mode, st_uid and st_gid of `path` (following symlinks), or the errno. */
  async stat(path: string): Promise<{ mode: number; uid: number; gid: number } | { errno: string }> {
    const r = await this.run(calls.stat(path));
    if (!r.ok) return { errno: r.errno ?? 'E?' };
    const b = r.outs[0]!;
    return { mode: b.readUInt32LE(24), uid: b.readUInt32LE(28), gid: b.readUInt32LE(32) };
  }

  /** Open fds of the process that makes the calls (SPEC.md §7: a suite must not leak any). */
  async openFdCount(): Promise<number> {
    return fdCountFrom(await this.runAll(fdCountCalls(0)), 0);
  }

  async capget(): Promise<CapSets> {
    const r = await this.must('capget', calls.capget());
    return decodeCapData(r.outs[1]!);
  }
}
