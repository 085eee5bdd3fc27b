// pack: one archive a lab copies to a device and runs with the device's own
// node (like `make kselftest-install` + run_kselftest.sh): the ffi runner
// bundled with tap and the suites, the executor and static helpers, and
// koffi's native module. The stream it
// prints is turned into a run folder on any host with `ingest`.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync, chmodSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { BadInputError, HarnessError } from './errors.js';
import { guestTree, projectRoot } from './paths.js';

const RUN_SCRIPT = `#!/bin/sh
# Runs the O_MAYEXEC conformance suites on this machine's kernel.
# Needs root and node >= 20. Prints the result stream on stdout; keep it and
# turn it into a run folder with: omayexec-conformance ingest FILE
#   sudo ./run_omayexec.sh [--expect omayexec-v7] > omayexec.raw
set -e
here=$(cd "$(dirname "$0")" && pwd)
expect=""
if [ "$1" = "--expect" ] && [ -n "$2" ]; then expect="\\"$2\\""; fi
suites=$(sed 's/^\\[//; s/\\]$//' "$here/suites.json")
cfg=$(mktemp)
trap 'rm -f "$cfg"' EXIT
printf '{"suites":[%s],"expect":[%s],"suiteTimeoutSec":45,"freshBoot":false,"overrides":{}}' "$suites" "$expect" > "$cfg"
# The sysctls the suites write (sysctls.txt, from their specs): saved now,
# written back whatever happens to the runner.
saved=$(mktemp)
trap 'rm -f "$cfg" "$saved"' EXIT
while read -r p; do
  if [ -e "$p" ]; then printf '%s %s\\n' "$p" "$(cat "$p")" >> "$saved"; fi
done < "$here/sysctls.txt"
status=0
unshare --mount --propagation private node "$here/runner.js" "$cfg" || status=$?
while read -r p v; do echo "$v" > "$p"; done < "$saved"
exit $status
`;

export function pack(outPath: string): string {
  const parent = dirname(resolve(outPath));
  if (!existsSync(parent) || !statSync(parent).isDirectory()) throw new BadInputError(`pack -o ${outPath}: ${parent} is not a directory`);
  const board = join(projectRoot, 'dist/board');
  if (!existsSync(join(board, 'runner.js')) || !existsSync(join(guestTree, 'executor'))) throw new HarnessError(`${board} or ${guestTree} is missing: run npm run build`);
  const stage = mkdtempSync(join(tmpdir(), 'omx-pack-'));
  const root = join(stage, 'omayexec-conformance');
  try {
    // verbatimSymlinks: the helpers stay relative symlinks to the executor.
    cpSync(guestTree, root, { recursive: true, verbatimSymlinks: true });
    cpSync(board, root, { recursive: true });
    const nm = join(projectRoot, 'node_modules');
    const skip = new Set(['doc', 'vendor', 'CHANGELOG.md', 'cnoke.cjs', 'musl_x64', 'index.d.ts']);
    const filter = (src: string) => !skip.has(src.split('/').pop()!);
    cpSync(join(nm, 'koffi'), join(root, 'node_modules/koffi'), { recursive: true, filter });
    const native = `koffi-linux-${process.arch}`;
    cpSync(join(nm, '@koromix', native), join(root, 'node_modules/@koromix', native), { recursive: true, filter });
    writeFileSync(join(root, 'run_omayexec.sh'), RUN_SCRIPT);
    chmodSync(join(root, 'run_omayexec.sh'), 0o755);
    const out = resolve(outPath);
    // Written beside its name, then renamed: a full disk leaves no truncated bundle under the name asked for.
    const partial = `${out}.partial-${process.pid}`;
    try {
      execFileSync('tar', ['-czf', partial, '-C', stage, 'omayexec-conformance'], { stdio: ['ignore', 'ignore', 'pipe'] });
    } catch (e) {
      rmSync(partial, { force: true });
      const why = ((e as { stderr?: Buffer }).stderr?.toString() ?? '').trim().split('\n').pop();
      throw new HarnessError(`pack: writing ${out} failed: ${why}`);
    }
    renameSync(partial, out);
    return out;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}
