// A real CLI run (Debian 6.1 stock kernel in QEMU, suite exec) with
// --format tap14 --kcidb-origin ci_test: both reach the run folder. Boots
// QEMU, so it is not part of `npm run test:unit` (test/kcidb.test.ts checks
// the same writers on recorded runs without a boot).
import t from 'tap';
import { Parser, type FinalResults } from 'tap-parser';
import Ajv2020 from 'ajv/dist/2020.js';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import tmp from 'tmp';
import type { KcidbData } from '../vm/kcidb-schema.js';
import { fixturesDir, projectRoot } from './fixtures/load.js';

tmp.setGracefulCleanup();
const BIN = join(projectRoot, 'bin/omayexec-conformance.js');

const validate = new Ajv2020.default({ allErrors: true, strict: true })
  // RFC 3339 date-time (what KCIDB's "format": "date-time" means) and URIs, as in kcidb.test.ts.
  .addFormat('date-time', (s: string) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/.test(s) && !Number.isNaN(Date.parse(s)))
  .addFormat('uri', (s: string) => URL.canParse(s))
  .compile(JSON.parse(readFileSync(join(fixturesDir, 'kcidb-v5-subset.schema.json'), 'utf8')) as object);

function counts(text: string): Promise<{ ok: boolean; count: number; child: number }> {
  return new Promise((resolve) => {
    let child = 0;
    const p = new Parser((final: FinalResults) => resolve({ ok: final.ok, count: final.count, child }));
    p.on('child', (c: Parser) => c.on('complete', (f: FinalResults) => (child = f.count)));
    p.end(text);
  });
}

const missing = ['qemu-system-x86_64', 'apt-cache'].filter((c) => spawnSync(c, ['--version']).error);
const skip = !existsSync(join(projectRoot, 'dist/vm/cli.js')) || !existsSync(join(projectRoot, 'dist/guest/executor'))
  ? 'not built (npm run build)'
  : missing.length ? `not installed: ${missing.join(', ')}` : false;

t.test('a real run (Debian 6.1, exec suite) with --format tap14 --kcidb-origin ci_test writes both', { skip }, async (t) => {
  const results = tmp.dirSync({ unsafeCleanup: true, prefix: 'omx-kcidb-cli-' }).name;
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [BIN, 'run', '--debian', '6.1', '--suite', 'exec', '--format', 'tap14', '--kcidb-origin', 'ci_test', '--quiet'], {
    cwd: projectRoot, encoding: 'utf8', timeout: 300_000, env: { ...process.env, OMAYEXEC_RESULTS: results },
  });
  t.comment(`CLI run took ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  t.equal(r.status, 0, `exit 0 (stderr: ${r.stderr.slice(-300)})`);
  const dir = join(results, 'latest');
  const d = JSON.parse(readFileSync(join(dir, 'kcidb.json'), 'utf8')) as KcidbData;
  t.ok(validate(d), `kcidb.json valid ${JSON.stringify(validate.errors?.slice(0, 3) ?? [])}`);
  t.ok([...d.checkouts, ...d.builds, ...d.tests].every((o) => o.origin === 'ci_test' && o.id.startsWith('ci_test:')), 'origin ci_test everywhere');
  const cases = d.tests.filter((x) => (x.misc as { kind?: string } | undefined)?.kind === 'case');
  t.same(cases.map((x) => x.status), Array(15).fill('PASS'), '15 passing exec cases (14 rows + the fd-leak check)');
  const ktap = readFileSync(join(dir, 'results.ktap'), 'utf8');
  t.match(ktap, /^TAP version 14\n1\.\.1\n# Subtest: omayexec: exec\n/, 'results.ktap is TAP 14');
  t.same(await counts(ktap), { ok: true, count: 1, child: 15 });
});
