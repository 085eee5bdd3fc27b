// The command line as a user meets it: `node bin/omayexec-conformance.js`
// spawned as a process. Bad usage and bad input: exit 2 and one clear line
// on stderr, never a stack trace.
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import tmp from 'tmp';
import { bundledSuites } from '../vm/run.js';
import { runCli, type Ran } from './fixtures/cli.js';
import { projectRoot } from './fixtures/load.js';

const cli = (args: string[], env: Record<string, string> = {}): Ran => runCli(args, { env });

function oneCleanLine(t: Test, r: Ran, re: RegExp): void {
  t.equal(r.errLines.length, 1, `exactly one stderr line (got: ${JSON.stringify(r.stderr)})`);
  t.match(r.errLines[0], /^omayexec-conformance: /, 'prefixed with the program name');
  t.match(r.errLines[0], re);
  t.notOk(r.stderr.split('\n').some((l) => l.startsWith('    at ')), 'no stack trace');
  t.notMatch(r.stderr, /internal error|harness error/, 'not reported as an internal or harness error');
}

const suites = bundledSuites().sort();

t.test('run --kernel /nonexistent: exit 2, one line, no run folder', async (t) => {
  const r = cli(['run', '--kernel', '/nonexistent']);
  t.equal(r.status, 2);
  oneCleanLine(t, r, /kernel image not found: \/nonexistent$/);
  t.same(readdirSync(r.resultsDir), [], 'nothing written under the results folder');
});

t.test('run --kernel /etc/passwd: exit 2, not a kernel image', async (t) => {
  const r = cli(['run', '--kernel', '/etc/passwd']);
  t.equal(r.status, 2);
  oneCleanLine(t, r, /\/etc\/passwd is not a kernel image/);
});

t.test('run --kernel DIR: exit 2', async (t) => {
  const r = cli(['run', '--kernel', projectRoot]);
  t.equal(r.status, 2);
  oneCleanLine(t, r, /not a regular file/);
});

t.test('run --suite nosuch: exit 2 and the list of valid suites', { skip: suites.length ? false : 'not built' }, async (t) => {
  const r = cli(['run', '--suite', 'nosuch', '--kernel', 'X']);
  t.equal(r.status, 2);
  oneCleanLine(t, r, /unknown suite 'nosuch'; valid: /);
  const listed = /valid: (.*)$/.exec(r.errLines[0] ?? '')?.[1]?.split(', ').sort();
  t.same(listed, suites, 'every compiled suite listed, nothing else');
  t.ok(listed?.includes('exec'), 'exec among them');
});

t.test('run --expect nosuch: exit 2 and the list of profiles', async (t) => {
  const r = cli(['run', '--expect', 'nosuch']);
  t.equal(r.status, 2);
  oneCleanLine(t, r, /unknown profile 'nosuch'; valid: omayexec-v7, exec-cleanups, execve-check/);
});

t.test('unknown command: exit 2', async (t) => {
  const r = cli(['frobnicate']);
  t.equal(r.status, 2);
  oneCleanLine(t, r, /unknown command 'frobnicate'/);
});

t.test('unknown option: exit 2, no stack trace', async (t) => {
  const r = cli(['run', '--no-such-option']);
  t.equal(r.status, 2);
  oneCleanLine(t, r, /--no-such-option/);
});

t.test('two kernel sources at once: exit 2', async (t) => {
  const r = cli(['run', '--kernel', '/nonexistent', '--debian', '6.1']);
  t.equal(r.status, 2);
  oneCleanLine(t, r, /choose one of --kernel, --debian/);
});

t.test('unknown Debian series: exit 2 naming the valid ones', async (t) => {
  const r = cli(['run', '--debian', '5.10']);
  t.equal(r.status, 2);
  oneCleanLine(t, r, /unknown Debian series '5\.10'; valid: 6\.1, 6\.12/);
});

t.test('a timeout beyond what node timers can hold (2^31 ms) is bad input, not a timeout at once', async (t) => {
  for (const opt of ['--suite-timeout', '--run-timeout', '--boot-timeout']) {
    const r = cli(['run', '--kernel', '/nonexistent', `${opt}=3000000`]);
    t.equal(r.status, 2, opt);
    oneCleanLine(t, r, new RegExp(`${opt} 3000000 is above the longest timeout possible \\(2147483 s`));
  }
});

t.test('--kernel given twice is an error, not "the last one wins"', async (t) => {
  const r = cli(['run', '--kernel', '/a', '--kernel=/b']);
  t.equal(r.status, 2);
  oneCleanLine(t, r, /--kernel given 2 times: give it once/);
});

t.test('bad paths are bad input: one line naming the path, exit 2', async (t) => {
  const dir = tmp.dirSync({ unsafeCleanup: true }).name;
  const empty = join(dir, 'empty.json');
  writeFileSync(empty, '{}');
  const cases: [string[], RegExp][] = [
    [['ingest', dir], new RegExp(`ingest ${dir}: not a file`)],
    [['compare', empty, empty], new RegExp(`${empty} is not a results.json of a run`)],
    [['run', '--kernel', '/bin/true', '--config', '/nonexistent-omx'], /--config \/nonexistent-omx: no such file/],
    [['run', '--debian', '6.1', '--config', dir], new RegExp(`--config ${dir}: not a file`)],
  ];
  for (const [args, message] of cases) {
    const r = cli(args);
    t.equal(r.status, 2, args.join(' '));
    oneCleanLine(t, r, message);
  }
});

t.test('results folder read-only or not a folder: one clear line', { skip: process.getuid?.() !== 0 ? 'mounts need root' : false }, async (t) => {
  const base = tmp.dirSync({ unsafeCleanup: true }).name;
  const notDir = join(base, 'file');
  writeFileSync(notDir, 'x');
  const ro = join(base, 'ro');
  spawnSync('mkdir', [ro]);
  t.equal(spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'omx-ro', ro]).status, 0, 'a read-only tmpfs');
  try {
    for (const [root, code] of [[ro, 'EROFS'], [notDir, 'ENOTDIR']] as const) {
      const r = cli(['run', '--direct', '--suite', 'exec'], { OMAYEXEC_RESULTS: root });
      t.equal(r.status, 2, `${code}: exit 2`);
      oneCleanLine(t, r, new RegExp(`results folder ${root} is not writable \\(${code}\\)`));
    }
  } finally {
    spawnSync('umount', [ro]);
  }
});

t.test('a bad timeout value: exit 2', async (t) => {
  for (const v of ['abc', '0', '-3']) {
    const r = cli(['run', '--kernel', '/nonexistent', `--boot-timeout=${v}`]);
    t.equal(r.status, 2, v);
    oneCleanLine(t, r, new RegExp(`--boot-timeout takes a positive number of seconds, not '${v}'`));
  }
  // "--boot-timeout -3" (separate argument) is refused by node's parseArgs
  // itself, in its own three-line wording: still exit 2, still no stack.
  const r = cli(['run', '--kernel', '/nonexistent', '--boot-timeout', '-3']);
  t.equal(r.status, 2);
  t.match(r.errLines[0], /^omayexec-conformance: Option '--boot-timeout' argument is ambiguous/);
  t.notOk(r.stderr.split('\n').some((l) => l.startsWith('    at ')), 'no stack trace');
});

t.test('no command: usage and exit 2; --help: usage and exit 0', async (t) => {
  const none = cli([]);
  t.equal(none.status, 2);
  t.match(none.stdout, /^usage: omayexec-conformance <command>/);
  const help = cli(['--help']);
  t.equal(help.status, 0);
  t.match(help.stdout, /exit status of run: 0 conformant, 1 a case failed, 2 bad usage or input/);
});

// --debian 6.1 on a host without QEMU. The kernel must already be in the
// cache (otherwise this would download it); apt-cache still resolves it.
const debianCache = join(process.env.OMAYEXEC_CACHE ?? join(homedir(), '.cache', 'omayexec-conformance'), 'debian');
const haveDebian = existsSync(debianCache) && readdirSync(debianCache).some((d) => d.includes('cloud-amd64'));
const tools = ['node', 'apt-cache', 'apt-get', 'dpkg', 'ldd', 'strip'];
const which = (c: string) => spawnSync('sh', ['-c', `command -v ${c}`], { encoding: 'utf8' }).stdout.trim();

t.test('run --debian 6.1 without qemu-system-x86_64 on PATH: exit 2 naming the package', {
  skip: !haveDebian ? `no cached Debian kernel under ${debianCache}` : tools.some((c) => !which(c)) ? 'a host tool is missing' : false,
}, async (t) => {
  const bin = tmp.dirSync({ unsafeCleanup: true, prefix: 'omx-path-' });
  t.teardown(() => bin.removeCallback());
  for (const c of tools) symlinkSync(which(c), join(bin.name, c));
  t.equal(spawnSync('qemu-system-x86_64', ['--version'], { env: { PATH: bin.name } }).error !== undefined, true, 'qemu really absent from that PATH');
  // OMAYEXEC_ACCEL=tcg: without it, the KVM probe (vm/qemu.ts chooseAccel)
  // would run with no QEMU and cache "tcg" for this host boot (reported bug).
  const r = cli(['run', '--debian', '6.1'], { PATH: bin.name, OMAYEXEC_ACCEL: 'tcg' });
  t.equal(r.status, 2, 'exit 2: bad input (missing host tool), not a harness error');
  const last = r.errLines[r.errLines.length - 1] ?? '';
  t.match(last, /^omayexec-conformance: qemu-system-x86_64 not found: install it with apt-get install qemu-system-x86$/);
  t.equal(r.errLines.filter((l) => l.startsWith('omayexec-conformance:')).length, 1, 'one error line (the rest is progress)');
  t.ok(r.errLines.slice(0, -1).every((l) => /^\[\s*[\d.]+s\] /.test(l)), 'every other stderr line is a progress line');
  t.notOk(r.stderr.split('\n').some((l) => l.startsWith('    at ')), 'no stack trace');
});
