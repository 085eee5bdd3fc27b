// The executor as a local child process over pipes (`executor --supervise
// stdio`): a fresh process for the ffi target's child cases, and the
// executor side of the parity test.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { ExecutorBackend } from './executor-backend.js';
import { ExecutorClient, type Channel, type ClientHooks } from './executor-client.js';
import { localGuestDir } from './guest-dir.js';

export interface LocalExecutor {
  backend: ExecutorBackend;
  stop(): Promise<void>;
}

const START_MS = 10_000;

export async function startLocalExecutor(hooks: ClientHooks = {}): Promise<LocalExecutor> {
  const dir = localGuestDir();
  const bin = `${dir}/executor`;
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run npm run build`);
  const child = spawn(bin, ['--supervise', 'stdio'], { stdio: ['pipe', 'pipe', 'inherit'] });
  let exited = false;
  const gone = new Promise<void>((resolve) => child.on('close', () => ((exited = true), resolve())));
  const channel: Channel = {
    name: 'stdio',
    write: (b) => child.stdin.write(b),
    listen: (onData, onClose) => {
      child.stdout.on('data', onData);
      child.on('close', (code, sig) => onClose(`local executor exited (${sig ?? code})`));
    },
    close: () => child.stdin.end(),
  };
  child.stdin.on('error', () => {}); // EPIPE after the child died: the close event reports it
  const client = new ExecutorClient(channel, hooks);
  const ready = await client.ready(START_MS);
  const backend = new ExecutorBackend(client, ready, `${dir}/helpers`);
  return {
    backend,
    async stop() {
      if (!exited) {
        try {
          await backend.powerOff(5000);
        } catch {
          child.kill('SIGKILL');
        }
      }
      await gone;
    },
  };
}
