// Where the built guest tree is on this machine (dist/guest: the executor and
// the static helpers), from the compiled harness or from a board bundle.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function localGuestDir(): string {
  const env = process.env.OMAYEXEC_GUEST_DIR;
  if (env) return env;
  // dist/harness/*.js -> dist/guest; a board bundle keeps them beside its runner.
  for (const rel of ['../guest', '.', '..']) {
    const d = fileURLToPath(new URL(rel, import.meta.url)).replace(/\/$/, '');
    if (existsSync(`${d}/executor`)) return d;
  }
  return fileURLToPath(new URL('../guest', import.meta.url)).replace(/\/$/, '');
}
