// Unit tests of vm/errors.ts: every documented exit status in one map, and
// the one line and status the CLI gives for each kind of error.
import t from 'tap';
import { BadInputError, commandFailure, EXIT, EXIT_CODES, HarnessError } from '../vm/errors.js';
import { QemuMissingError } from '../vm/qemu.js';

t.test('the verdicts map onto the documented statuses', async (t) => {
  t.same(EXIT_CODES, { pass: 0, fail: 1, skip: 4, panic: 3, timeout: 5, 'boot-failure': 6, error: 6 });
  t.same(EXIT, { ok: 0, failed: 1, badInput: 2, panic: 3, nothingVerifiable: 4, timeout: 5, harness: 6 });
});

t.test('commandFailure: one line per error kind, never a stack', async (t) => {
  const parseArgsError = Object.assign(new TypeError("Unknown option '--x'"), { code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' });
  const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', path: '/full/run.cpio' });
  const cases: [unknown, number, string][] = [
    [new BadInputError('kernel image not found: /x'), 2, 'omayexec-conformance: kernel image not found: /x'],
    [new QemuMissingError('qemu-system-x86_64 not found'), 2, 'omayexec-conformance: qemu-system-x86_64 not found'],
    [parseArgsError, 2, "omayexec-conformance: Unknown option '--x'"],
    [enospc, 6, 'omayexec-conformance: no space left on device while writing /full/run.cpio; free some space or point OMAYEXEC_CACHE / OMAYEXEC_RESULTS elsewhere'],
    [new HarnessError('patch p does not apply'), 6, 'omayexec-conformance: harness error: patch p does not apply'],
    [new Error('boom'), 6, 'omayexec-conformance: internal error: boom'],
    ['a string', 6, 'omayexec-conformance: internal error: a string'],
  ];
  for (const [e, exitCode, line] of cases) t.same(commandFailure(e), { exitCode, line }, line);
});

t.test('bin/omayexec-conformance.js exits with EXIT.harness when dist/ is not built', async (t) => {
  const { readFileSync } = await import('node:fs');
  const bin = readFileSync(new URL('../../bin/omayexec-conformance.js', import.meta.url), 'utf8');
  const m = /process\.exit\((\d+)\)/.exec(bin);
  t.equal(Number(m?.[1]), EXIT.harness, 'its literal status is the harness one (it cannot import vm/errors.ts before the build)');
});
