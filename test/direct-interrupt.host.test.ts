// Direct mode never leaves the machine changed: a run interrupted by SIGINT
// or SIGTERM, or whose runner is SIGKILLed, restores every guarded sysctl
// (the parent process does it) and leaves no mount behind (the suites ran in
// a private mount namespace).
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import tmp from 'tmp';
import { BIN as cli, freshResultsDir, runCli, spawnCli } from './fixtures/cli.js';

const root = join(import.meta.dirname, '../..');
// Harmless and present on every kernel: how many messages printk lets through per interval.
const SYSCTL = '/proc/sys/kernel/printk_ratelimit_burst';

const read = () => readFileSync(SYSCTL, 'utf8').trim();
const mounted = (dir: string) => readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${dir} `);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await sleep(50);
  }
  return cond();
}

const skip = process.getuid?.() !== 0 ? 'direct mode needs root' : false;

/** Processes whose environment holds `needle` (the run's unique mount path). */
function processesWithEnv(needle: string): number[] {
  const found: number[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'latin1').includes(needle)) found.push(Number(pid));
    } catch {
      // gone, or a kernel thread
    }
  }
  return found;
}

for (const how of ['SIGINT', 'SIGTERM', 'SIGKILL-runner'] as const) {
  t.test(`interrupted by ${how}: sysctl restored, no mount left`, { skip }, async (t) => {
    const before = read();
    const before36 = readdirSync('/tmp').filter((n) => n.startsWith('omx-test-mount-'));
    const changed = String(Number(before) + 7);
    const mnt = join(tmp.dirSync({ unsafeCleanup: true }).name, 'mnt');
    const { child, resultsDir: results } = spawnCli(['run', '--direct', '--suite', 'direct-slow', '--quiet'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        OMAYEXEC_EXTRA_SUITES: join(root, 'test/fixtures/guest-suites'),
        OMAYEXEC_GUARDED_SYSCTLS: SYSCTL,
        OMX_TEST_SYSCTL: SYSCTL,
        OMX_TEST_VALUE: changed,
        OMX_TEST_MOUNT: mnt,
      },
    });
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    t.ok(await waitFor(() => read() === changed, 20_000), 'the suite changed the sysctl');
    if (how === 'SIGKILL-runner') {
      // The runner is the node process started by unshare, below the CLI.
      const pids = spawnSync('pgrep', ['-f', 'dist/harness/direct-runner.js'], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);
      t.ok(pids.length >= 1, 'found the runner');
      for (const p of pids) process.kill(Number(p), 'SIGKILL');
    } else {
      child.kill(how);
    }
    const code = await exited;
    t.not(code, 0, `the run does not report success (exit ${code})`);
    t.equal(read(), before, 'sysctl back to its value before the run');
    t.notOk(mounted(mnt), 'the tmpfs the suite mounted is not visible on the host');
    const runnerFolders = readdirSync('/tmp').filter((n) => n.startsWith('omx-test-mount-') && !before36.includes(n));
    t.same(runnerFolders, [], 'no work-mount folder of the run is left in /tmp');
    // The suite host (the runner's child) must not outlive the run.
    t.ok(await waitFor(() => processesWithEnv(`OMX_TEST_MOUNT=${mnt}`).length === 0, 5_000), 'no process of the run is left');
    const record = JSON.parse(readFileSync(join(results, 'latest', 'results.json'), 'utf8')) as { verdict: string };
    t.not(record.verdict, 'pass', `verdict ${record.verdict}, never pass`);
  });
}

t.test('the whole process group SIGKILLed: the next direct run restores the sysctl first', { skip }, async (t) => {
  const before = read();
  const changed = String(Number(before) + 9);
  const mnt = join(tmp.dirSync({ unsafeCleanup: true }).name, 'mnt');
  const env = {
    OMAYEXEC_RESULTS: freshResultsDir(),
    OMAYEXEC_EXTRA_SUITES: join(root, 'test/fixtures/guest-suites'),
    OMAYEXEC_GUARDED_SYSCTLS: SYSCTL,
    OMX_TEST_SYSCTL: SYSCTL,
    OMX_TEST_VALUE: changed,
    OMX_TEST_MOUNT: mnt,
  };
  // Its own process group, so one kill reaches the CLI, unshare and the runner at once.
  const { child } = spawnCli(['run', '--direct', '--suite', 'direct-slow', '--quiet'], { env, detached: true });
  const exited = new Promise<void>((r) => child.on('close', () => r()));
  t.ok(await waitFor(() => read() === changed, 20_000), 'the suite changed the sysctl');
  const runnerPid = spawnSync('pgrep', ['-f', 'dist/harness/direct-runner.js'], { encoding: 'utf8' }).stdout.trim().split('\n').map(Number).find((p) => p > 0);
  t.ok(runnerPid, 'found the runner');
  const leftFolders = () => readdirSync('/tmp').filter((n) => n.startsWith(`omx-test-mount-${runnerPid!.toString(36)}`));
  t.ok(await waitFor(() => leftFolders().length === 1, 10_000), 'the suite made its work-mount folder');
  process.kill(-child.pid!, 'SIGKILL');
  await exited;
  t.ok(await waitFor(() => processesWithEnv(`OMX_TEST_MOUNT=${mnt}`).length === 0, 5_000), 'no process of the run is left');
  t.equal(read(), changed, 'nobody was left to restore it (the premise)');
  const next = runCli(['run', '--direct', '--suite', 'exec'], { env: { ...env, OMX_TEST_VALUE: before } });
  t.match(next.stdout + next.stderr, new RegExp(`died without restoring the sysctls: restored ${SYSCTL}`), 'the next run says what it restored');
  t.equal(read(), before, 'sysctl back to its value before the killed run');
  t.same(leftFolders(), [], 'and the empty work-mount folder the killed runner left is gone');
  t.equal(next.status, 0, 'and the next run itself passes');
});

/** A copy of the CLI that `uid` can read: the clone may sit in a 0700 folder
 * (mktemp -d), which the user could not enter. Hard links where possible. */
function cliReadableBy(uid: number): string | undefined {
  const canRead = (file: string) => spawnSync('test', ['-r', file], { uid, gid: uid }).status === 0;
  if (canRead(cli)) return cli;
  const copy = tmp.dirSync({ mode: 0o755, unsafeCleanup: true });
  t.teardown(() => copy.removeCallback());
  for (const part of ['package.json', 'bin', 'dist', 'node_modules']) {
    const from = join(root, part);
    if (spawnSync('cp', ['-al', from, copy.name]).status !== 0 && spawnSync('cp', ['-a', from, copy.name]).status !== 0) {
      return undefined;
    }
  }
  const copied = join(copy.name, 'bin/omayexec-conformance.js');
  return canRead(copied) ? copied : undefined;
}

const nobody = 65534;
const readable = skip ? undefined : cliReadableBy(nobody);
const unreadable = !skip && !readable ? `uid ${nobody} can read neither the project nor a copy of it in ${tmp.tmpdir}` : false;

t.test('run --direct as a non-root user: exit 2 with one clear line', { skip: skip || unreadable }, async (t) => {
  // Through `env -i`: tap injects its process-info hook into the environment
  // of every child, and that hook would then fail to write into .tap/ as this user.
  const r = spawnSync('env', ['-i', `PATH=${process.env.PATH}`, process.execPath, readable!, 'run', '--direct'], {
    encoding: 'utf8', uid: nobody, gid: nobody, cwd: '/',
  });
  t.equal(r.status, 2);
  t.match(r.stderr, /needs root/);
  t.notMatch(r.stderr, /^\s+at /m, 'no stack trace');
});
