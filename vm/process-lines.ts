// The one way the host starts a child process whose output it reads: its
// stdout and stderr handed back line by line (each stream split on its own
// by harness/lines.ts, UTF-8 decoded across chunks), the raw bytes too for
// callers that keep a byte-exact copy, and a promise of how it ended.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { LineSplitter } from '../harness/lines.js';
import { HarnessError } from './errors.js';

export type OutputStream = 'stdout' | 'stderr';

/** Whether process `pid` exists (EPERM: it does, as another user's). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface SpawnLinesOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** stderr read like stdout ('pipe', the default) or left to the parent's ('inherit'). */
  stderr?: 'pipe' | 'inherit';
  /** Every whole line, and the last unterminated one when its stream ends. */
  onLine?: (line: string, from: OutputStream) => void;
  /** The bytes as they arrive, before any line is split off. */
  onChunk?: (chunk: Buffer, from: OutputStream) => void;
}

export interface ProcessEnd {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface LineProcess {
  /** For its pid, kill() and exit state. */
  child: ChildProcess;
  /** Resolves once the process has exited and every line was handed over; rejects when it could not start. */
  ended: Promise<ProcessEnd>;
}

export function spawnLines(cmd: string, args: string[], o: SpawnLinesOptions = {}): LineProcess {
  const child = spawn(cmd, args, { cwd: o.cwd, env: o.env ?? process.env, stdio: ['ignore', 'pipe', o.stderr ?? 'pipe'] });
  const follow = (stream: Readable | null, from: OutputStream) => {
    if (!stream) return;
    const decoder = new StringDecoder('utf8');
    const lines = new LineSplitter((line) => o.onLine?.(line, from));
    stream.on('data', (chunk: Buffer) => {
      o.onChunk?.(chunk, from);
      lines.push(decoder.write(chunk));
    });
    stream.on('end', () => {
      lines.push(decoder.end());
      lines.flush();
    });
  };
  follow(child.stdout, 'stdout');
  follow(child.stderr, 'stderr');
  // 'close' comes after the streams ended (and, for a spawn failure, after 'error').
  const ended = new Promise<ProcessEnd>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal }));
  });
  return { child, ended };
}

export interface RunToEndOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Every output line (stdout and stderr). */
  onLine?: (line: string) => void;
  /** Called every `heartbeatMs` (default 10 s) while the command runs. */
  heartbeat?: (elapsedSeconds: number) => void;
  heartbeatMs?: number;
}

export interface RunToEndResult {
  /** The exit status; 128 when killed by a signal. */
  code: number;
  /** The last 60 output lines, for an error message. */
  tail: string[];
}

const TAIL_LINES = 60;

/** Run a command to its end (a build tool: make, tar, patch...); a command that cannot start is a harness error. */
export async function runToEnd(cmd: string, args: string[], o: RunToEndOptions = {}): Promise<RunToEndResult> {
  const tail: string[] = [];
  const started = Date.now();
  const timer = o.heartbeat ? setInterval(() => o.heartbeat!(Math.round((Date.now() - started) / 1000)), o.heartbeatMs ?? 10000) : undefined;
  try {
    const { ended } = spawnLines(cmd, args, {
      cwd: o.cwd,
      env: o.env,
      onLine: (line) => {
        tail.push(line);
        if (tail.length > TAIL_LINES) tail.shift();
        o.onLine?.(line);
      },
    });
    const { code, signal } = await ended.catch((e: Error) => {
      throw new HarnessError(`cannot run ${cmd}: ${e.message}`);
    });
    return { code: code ?? (signal ? 128 : 1), tail };
  } finally {
    if (timer) clearInterval(timer);
  }
}

/**
 * A command that ended badly, as one line: its last output lines go to
 * `log` first (the context), the error names the command, its status and
 * its last non-blank line.
 */
export function commandFailed(what: string, r: RunToEndResult, log: (line: string) => void, shown = 15): HarnessError {
  for (const l of r.tail.slice(-shown)) log(`| ${l}`);
  const last = r.tail.filter((l) => l.trim()).pop()?.trim();
  return new HarnessError(`${what} failed (exit ${r.code})${last ? `: ${last}` : ''}`);
}
