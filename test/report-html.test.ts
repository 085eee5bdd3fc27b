// report.html (vm/report-html.ts) in a real headless Chromium: the page of a
// recorded run is loaded from a file, a small script appended to a copy of it
// reads the laid-out DOM (counts, links, sizes at a 1600 px wide window) into
// an element, and `chromium --dump-dom` hands the result back. Runs: the
// reference kernel with the full policy matrix, the same with cases made to
// fail, the dir-eacces fault kernel, a suite error and a kernel panic
// (test/fixtures/runs-recorded/). Chromium comes from vm/setup.sh; without it
// the test skips, except under CI (CI set), where it fails.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tmp from 'tmp';
import type { RunArtifacts, RunRecord } from '../vm/record.js';
import { toHtml } from '../vm/report-html.js';
import { OBJECT_TYPES } from '../fixtures/dimensions.js';
import { policyCaseName, policyCaseParams, policyCases } from '../fixtures/omayexec-policy.js';
import { caseName } from '../vm/record.js';
import { recordedRun } from './fixtures/load.js';

tmp.setGracefulCleanup();
const CHROMIUM = process.env.OMAYEXEC_CHROMIUM ?? 'chromium';
const WIDTH = 1600;

const probe = spawnSync(CHROMIUM, ['--version'], { encoding: 'utf8' });
const haveChromium = !probe.error && probe.status === 0;
if (!haveChromium && process.env.CI) {
  t.fail(`${CHROMIUM} is not installed; vm/setup.sh installs it (CI must not skip the report test)`);
}
const skip = haveChromium ? false : `${CHROMIUM} not installed (sudo bash vm/setup.sh installs the Debian package chromium)`;
if (haveChromium) t.comment(probe.stdout.trim());

interface Square { label: string; cls: string; href: string | null; title: string | null; target: { tag: string; cls: string; text: string } | null; row: number; col: number; clipped: boolean; width: number }
interface Facts {
  title: string;
  h1: string;
  verdict: string;
  innerWidth: number;
  docScrollWidth: number;
  grid: null | {
    rows: number;
    cellsPerRow: number[];
    squaresPerCell: number[];
    types: string[];
    vias: string[];
    rowHeaders: string[];
    /** Right edge of the grid and of its scroll box, px. */
    right: number;
    boxRight: number;
    squares: Square[];
  };
  noMatrixText: string | null;
  failures: { text: string; href: string; target: string | null }[];
  openDetails: string[];
  stderr: string[];
  consoleRow: string | null;
}

/** Reads the laid-out DOM and leaves the facts, URI-encoded, in <pre id="omx-facts">. */
const PROBE = `<script>
(() => { try {
  const q = (s, el = document) => [...el.querySelectorAll(s)];
  const txt = (el) => (el ? el.textContent.trim() : null);
  const target = (href) => {
    const el = href && href.startsWith('#') ? document.getElementById(href.slice(1)) : null;
    return el ? { tag: el.tagName.toLowerCase(), cls: el.className, text: el.textContent.trim().slice(0, 300) } : null;
  };
  const grid = document.querySelector('table.grid');
  const box = grid && (grid.closest('.gridwrap') || grid);
  const rows = grid ? q('tbody tr', grid) : [];
  const f = {
    title: document.title,
    h1: txt(document.querySelector('h1')),
    verdict: txt(document.querySelector('.verdict')),
    innerWidth: window.innerWidth,
    docScrollWidth: document.documentElement.scrollWidth,
    grid: grid && {
      rows: rows.length,
      cellsPerRow: rows.map((r) => q('td', r).length),
      squaresPerCell: q('tbody td', grid).map((td) => q('.sq', td).length),
      types: q('thead tr:first-child th[colspan]', grid).map(txt),
      vias: q('thead tr:nth-child(2) th', grid).map(txt),
      rowHeaders: rows.map((r) => txt(r.querySelector('th'))),
      right: grid.getBoundingClientRect().right,
      boxRight: box.getBoundingClientRect().right,
      squares: rows.flatMap((r, ri) => q('td', r).flatMap((td, ci) => q('.sq', td).map((sq) => ({
        label: sq.textContent, cls: sq.className, href: sq.getAttribute('href'), title: sq.getAttribute('title'),
        target: target(sq.getAttribute('href')), row: ri, col: ci,
        clipped: sq.scrollWidth > sq.clientWidth, width: sq.getBoundingClientRect().width,
      })))),
    },
    noMatrixText: grid ? null : txt([...document.querySelectorAll('h2')].find((h) => h.textContent.includes('policy matrix'))?.nextElementSibling),
    failures: q('ul.failures li').map((li) => ({ text: txt(li), href: li.querySelector('a')?.getAttribute('href'), target: target(li.querySelector('a')?.getAttribute('href'))?.text ?? null })),
    openDetails: q('details[open] > summary').map(txt),
    stderr: q('details.stderr pre').map(txt),
    consoleRow: txt(q('tr').find((tr) => txt(tr.querySelector('th')) === 'console')?.querySelector('td')),
  };
  const pre = document.createElement('pre');
  pre.id = 'omx-facts';
  pre.textContent = encodeURIComponent(JSON.stringify(f));
  document.body.appendChild(pre);
} catch (e) {
  const pre = document.createElement('pre');
  pre.id = 'omx-facts';
  pre.textContent = encodeURIComponent(JSON.stringify({ probeError: String(e && e.stack || e) }));
  document.body.appendChild(pre);
} })();
</script>`;

function recorded(name: string): { record: RunRecord; artifacts: RunArtifacts } {
  const { record, artifacts } = recordedRun(name);
  return { record, artifacts };
}

/** The page in Chromium at 1600 px: the facts the probe read, and the time it took. */
function inChromium(html: string): { facts: Facts; seconds: number } {
  const dir = tmp.dirSync({ unsafeCleanup: true, prefix: 'omx-report-' }).name;
  const page = join(dir, 'report.html');
  const i = html.lastIndexOf('</body>');
  if (i < 0) throw new Error('report.html has no </body>');
  writeFileSync(page, html.slice(0, i) + PROBE + html.slice(i));
  const t0 = performance.now();
  const r = spawnSync(CHROMIUM, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', `--user-data-dir=${join(dir, 'profile')}`, `--window-size=${WIDTH},2400`,
    '--dump-dom', `file://${page}`,
  ], { encoding: 'utf8', timeout: 120_000, maxBuffer: 256 * 1024 * 1024 });
  const seconds = (performance.now() - t0) / 1000;
  const m = /<pre id="omx-facts">([^<]*)<\/pre>/.exec(r.stdout ?? '');
  if (!m) throw new Error(`no facts in the dumped DOM (exit ${r.status}, ${r.error?.message ?? ''}): ${(r.stderr ?? '').slice(-500)}`);
  const facts = JSON.parse(decodeURIComponent(m[1]!)) as Facts & { probeError?: string };
  if (facts.probeError) throw new Error(`the DOM probe failed in the page: ${facts.probeError}`);
  return { facts, seconds };
}

const ROW_HEADERS = ['0', '1', '2', '3'].flatMap((s) => ['exec', 'noexec'].flatMap((m) => ['0500', '0400'].map((mode) => `sysctl=${s} ${m} ${mode}`)));
const TYPES = ['regular', 'directory', 'symlink', 'char', 'block', 'fifo', 'socket'];

t.test('reference kernel, full policy run: verdict, 16 rows x 28 columns x 2 squares, and it fits 1600 px', { skip }, async (t) => {
  // A run whose stream carries the observed value of each pass: the squares show what the kernel answered.
  const { record, artifacts } = recorded('reference-6.1-observed');
  const { facts: f, seconds } = inChromium(toHtml(record, artifacts));
  t.comment(`chromium --dump-dom: ${seconds.toFixed(1)} s`);
  t.equal(f.verdict, 'pass');
  t.equal(f.h1, 'O_MAYEXEC conformance: pass (exit 0)');
  t.equal(f.title, 'omayexec-conformance 20261202-102740-23092: pass');
  const g = f.grid!;
  t.ok(g, 'the policy grid is there');
  t.equal(g.rows, 16, '16 rows: sysctl 0-3 x exec/noexec x 0500/0400');
  t.same(g.rowHeaders, ROW_HEADERS);
  t.same(g.cellsPerRow, Array(16).fill(28), '28 cells per row: 7 types x 4 open paths');
  t.same(g.types, TYPES);
  t.same(g.vias, TYPES.flatMap(() => ['o2', 'op+', 'oat+', 'o2+']));
  t.same([...new Set(g.squaresPerCell)], [2], 'two squares per cell (capability states)');
  t.equal(g.squares.length, 16 * 28 * 2, '896 squares');
  t.equal(g.squares.filter((s) => s.cls === 'sq pass').length, 896, 'every square passed');
  t.ok(g.squares.every((s) => s.target?.tag === 'li' && s.target.cls === 'pass'), 'every square links to its case');
  t.same(f.failures, [], 'no failure list');
  // Layout at 1600 px: the whole page and the grid fit, no label is cut.
  t.equal(f.innerWidth, WIDTH);
  t.ok(f.docScrollWidth <= f.innerWidth, `no horizontal page scroll (${f.docScrollWidth} <= ${f.innerWidth})`);
  t.ok(g.right <= f.innerWidth && g.right <= g.boxRight, `the grid fits the window (right edge ${g.right} <= ${f.innerWidth})`);
  t.same(g.squares.filter((s) => s.clipped).map((s) => s.label), [], 'no clipped square label');
  const labels = [...new Set(g.squares.map((s) => s.label))].sort();
  t.same(labels, ['EACCES', 'EISDIR', 'ELOOP', 'ENXIO', 'fd'], 'labels are the outcomes');
});

t.test('cases made to fail: red squares showing actual≠expected, linked to their case, nothing clipped', { skip }, async (t) => {
  const { record, artifacts } = recorded('reference-6.1-pass');
  const flips: Record<string, string> = {
    'policy sysctl=2 mount=noexec mode=0500 type=regular via=openat2+O_MAYEXEC caps=dac -> fd': 'EACCES',
    'policy sysctl=0 mount=exec mode=0500 type=directory via=openat2+O_MAYEXEC caps=no-dac -> EISDIR': 'EACCES',
    'policy sysctl=3 mount=noexec mode=0400 type=socket via=open+O_MAYEXEC caps=dac -> ENXIO': 'fd',
  };
  for (const c of record.cases) {
    if (flips[c.id]) Object.assign(c, { status: 'fail', actual: flips[c.id] });
  }
  record.verdict = 'fail';
  record.exitCode = 1;
  const { facts: f } = inChromium(toHtml(record, artifacts));
  t.equal(f.verdict, 'fail');
  const red = f.grid!.squares.filter((s) => s.cls === 'sq fail');
  t.same(red.map((s) => s.label), ['EACCES≠EISDIR', 'EACCES≠fd', 'fd≠ENXIO'], 'actual≠expected, in grid order');
  t.same(red.map((s) => [s.row, s.col]), [[0, 7], [10, 3], [15, 25]], 'in the right rows and columns');
  for (const s of red) {
    const id = s.title!.split('\n')[0]!;
    t.ok(flips[id], `title names the case: ${id}`);
    t.match(s.href, /^#case-\d+-omayexec-policy$/);
    t.equal(s.target?.tag, 'li', 'the link resolves to a case entry');
    t.equal(s.target?.cls, 'fail');
    t.ok(s.target?.text.startsWith(`fail ${id} — expected `), 'which is that case, failed');
  }
  t.equal(f.failures.length, 3, 'listed under Failures');
  t.ok(f.failures.every((x) => x.target && flips[x.target.replace(/^fail /, '').split(' — ')[0]!]), 'each failure links to its case');
  t.same(f.grid!.squares.filter((s) => s.clipped).map((s) => s.label), [], 'no clipped label, long ones included');
  t.ok(f.grid!.right <= f.innerWidth, `still fits 1600 px (right edge ${f.grid!.right})`);
});

t.test('dir-eacces fault kernel: its 32 policy failures are the directory/o2+ column, 34 in the list', { skip }, async (t) => {
  const { record, artifacts } = recorded('fault-dir-eacces');
  const { facts: f } = inChromium(toHtml(record, artifacts));
  t.equal(f.verdict, 'fail');
  const red = f.grid!.squares.filter((s) => s.cls === 'sq fail');
  t.equal(red.length, 32);
  t.same([...new Set(red.map((s) => s.col))], [7], 'all in column 7: directory, openat2+O_MAYEXEC');
  t.same([...new Set(red.map((s) => s.row))].length, 16, 'in every row');
  t.ok(red.every((s) => s.target?.cls === 'fail' && s.target.text.includes('type=directory via=openat2+O_MAYEXEC')), 'each links to its failed case');
  t.same([...new Set(red.map((s) => s.label))], ['EACCES≠EISDIR'], 'actual EACCES (YAML block), expected EISDIR');
  t.equal(f.failures.length, 34);
  t.ok(f.failures.every((x) => x.target?.startsWith('fail ')), 'every listed failure links to its case');
  t.same(f.openDetails.filter((s) => /^omayexec-/.test(s)), ['omayexec-policy: fail (897 cases)', 'omayexec-extra: fail (29 cases)'], 'failed suites open');
});

t.test('suite error: its stderr is shown, no "expected ?, actual ?"', { skip }, async (t) => {
  const { record, artifacts } = recorded('reference-6.1-ima-error');
  const { facts: f } = inChromium(toHtml(record, artifacts));
  t.equal(f.verdict, 'error');
  t.same(f.failures.map((x) => x.text), ['ima: suite printed no TAP plan']);
  t.equal(f.stderr.length, 1, 'one stderr block');
  t.match(f.stderr[0], /Error: ENOSPC: no space left on device, write/);
  t.ok(f.openDetails.includes('stderr (21 lines)'), 'open, as its suite failed');
  t.equal(f.grid!.squares.length, 896, 'the matrix of the suites that ran');
});

t.test('kernel panic: verdict panic, the panic line, no matrix', { skip }, async (t) => {
  const { record, artifacts } = recorded('debian-6.1-panic');
  const { facts: f } = inChromium(toHtml(record, artifacts));
  t.equal(f.verdict, 'panic');
  t.equal(f.h1, 'O_MAYEXEC conformance: panic (exit 3)');
  t.equal(f.consoleRow, 'panic: [   14.752121] Kernel panic - not syncing: sysrq triggered crash');
  t.equal(f.grid, null);
  t.match(f.noMatrixText, /No policy matrix in this run/);
  t.same(f.failures.map((x) => x.text), ['fault-sysrq-crash: output ended before the suite finished (no suite-end)']);
});

t.test('the policy grid from params is the grid of a recording without them (no Chromium needed)', async (t) => {
  // What the policy suite prints now: each case's params beside its name.
  const byName = new Map(policyCases(OBJECT_TYPES).map((c) => [policyCaseName(c), policyCaseParams(c)]));
  for (const name of ['reference-6.1-observed', 'fault-dir-eacces']) {
    const { record, artifacts } = recorded(name);
    const legacy = toHtml(record, artifacts);
    let given = 0;
    for (const c of record.cases) {
      const p = c.suite === 'omayexec-policy' ? byName.get(caseName(c.id)) : undefined;
      if (p) (c.params = p), given++;
    }
    t.equal(given, 896, `${name}: params on every policy case`);
    t.equal(toHtml(record, artifacts), legacy, `${name}: the same page, byte for byte`);
    const scrambled = record.cases.map((c) => (c.params ? { ...c, params: { ...c.params, caps: c.params.caps === 'dac' ? 'no-dac' : 'dac' } } : c));
    t.not(toHtml({ ...record, cases: scrambled }, artifacts), legacy, `${name}: the grid follows the params, not the names`);
  }
});
