// report.html: one self-contained page per run (no network): verdict, kernel
// identity, timings, profiles, the O_MAYEXEC policy matrix as a coloured grid
// (rows sysctl × mount × mode; columns file type × open path; each cell one
// square per capability state), and every case with its TAP lines.
import { CAP_STATES, modeText, OBJECT_TYPES, OPEN_PATHS, SYSCTL_VALUES, type CaseParams, type OpenPath } from '../fixtures/dimensions.js';
import { POLICY_SUITE, policyCaseName, policyCaseParams, policyCases, VARIANTS } from '../fixtures/omayexec-policy.js';
import { caseName, casesBySuite, expectedFromName, type CaseRecord, type RunArtifacts, type RunRecord } from './record.js';

const esc = (s: string) => s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);

const VIA_SHORT: Record<OpenPath, string> = { openat2: 'o2', 'open+O_MAYEXEC': 'op+', 'openat+O_MAYEXEC': 'oat+', 'openat2+O_MAYEXEC': 'o2+' };

/** What the page needs besides the record. */
export type HtmlArtifacts = Pick<RunArtifacts, 'suiteTap' | 'caseTap' | 'stderr'>;

/** The expected outcome: from the diagnostics, else from the case name ("... -> EACCES"). */
function expectedOf(c: CaseRecord): string | undefined {
  return c.expected ?? expectedFromName(c.id.split(' / ').pop() ?? '');
}

/** What went wrong in a case, without "expected ?, actual ?" when the case checked nothing (suite errors). */
function caseDetail(c: CaseRecord): string {
  const expected = expectedOf(c);
  const parts = expected !== undefined || c.actual !== undefined ? [`expected ${esc(expected ?? '?')}, actual ${esc(c.actual ?? '?')}`] : [];
  // A suite error's case is named after its reason: say it once.
  if (c.reason && !c.id.endsWith(c.reason)) parts.push(esc(c.reason));
  return parts.join('; ');
}

function anchor(c: CaseRecord, i: number): string {
  return `case-${i}-${c.suite}`;
}

/** A grid cell's key: the six dimensions of a policy case. */
function cellKey(p: CaseParams): string {
  return [p.sysctl, p.mount, p.mode, p.type, p.via, p.caps].join('|');
}

// Records written before suites declared params (the recordings under
// test/fixtures/runs-recorded): a policy case's params are looked up by its
// name in the table that generates both; no name is parsed.
let legacyParams: Map<string, CaseParams> | undefined;
function paramsOf(c: CaseRecord): CaseParams | undefined {
  if (c.params) return c.params;
  legacyParams ??= new Map(policyCases(OBJECT_TYPES).map((p) => [policyCaseName(p), policyCaseParams(p)]));
  return legacyParams.get(caseName(c.id));
}

function policyGrid(cases: CaseRecord[], index: Map<CaseRecord, number>): string {
  const cells = new Map<string, CaseRecord>();
  for (const c of cases) {
    const p = c.suite === POLICY_SUITE ? paramsOf(c) : undefined;
    if (p) cells.set(cellKey(p), c);
  }
  if (!cells.size) return '<p>No policy matrix in this run (the omayexec-v7 profile was absent or not run).</p>';
  const head1 = OBJECT_TYPES.map((t) => `<th colspan="${OPEN_PATHS.length}" class="tstart">${t}</th>`).join('');
  const head2 = OBJECT_TYPES.map(() => OPEN_PATHS.map((v, i) => `<th title="${esc(v)}"${i ? '' : ' class="tstart"'}>${VIA_SHORT[v]}</th>`).join('')).join('');
  const rows: string[] = [];
  for (const sysctl of SYSCTL_VALUES) {
    for (const variant of VARIANTS) {
      const { mount } = variant;
      const mode = modeText(variant.mode);
      const tds = OBJECT_TYPES.flatMap((type) =>
        OPEN_PATHS.map((via) => {
          const squares = CAP_STATES.map((caps) => {
            const c = cells.get(cellKey({ sysctl, mount, mode, type, via, caps }));
            if (!c) return `<span class="sq none" title="not run (${caps})">·</span>`;
            const expected = expectedOf(c);
            const title = `${c.id}\nexpected ${expected ?? '?'}, actual ${c.actual ?? c.reason ?? '?'}`;
            const label = c.status === 'fail' ? `${c.actual ?? '?'}≠${expected ?? '?'}` : c.status === 'skip' ? 'skip' : (c.actual ?? '');
            return `<a class="sq ${c.status}" href="#${anchor(c, index.get(c)!)}" title="${esc(title)}">${esc(label)}</a>`;
          });
          return `<td class="${via === OPEN_PATHS[0] ? 'tstart' : ''}">${squares.join('')}</td>`;
        }),
      );
      const first = variant === VARIANTS[0] ? ' class="sstart"' : '';
      rows.push(`<tr${first}><th>sysctl=${sysctl} ${mount} ${mode}</th>${tds.join('')}</tr>`);
    }
  }
  return `<p>Each cell: upper square with CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH effective, lower square with both cleared. Text is the actual outcome; a failing square shows actual≠expected and links to its case. Open paths: o2 = openat2 without O_MAYEXEC, op+ / oat+ = open(2) / openat(2) with it (dropped), o2+ = openat2 with it.</p>
<div class="gridwrap"><table class="grid"><thead><tr><th rowspan="2">sysctl mount mode</th>${head1}</tr><tr>${head2}</tr></thead><tbody>${rows.join('\n')}</tbody></table></div>`;
}

export function toHtml(r: RunRecord, a: HtmlArtifacts): string {
  const all = r.cases;
  const index = new Map(all.map((c, i) => [c, i]));
  const bySuite = casesBySuite(all);
  const casesOf = (id: string) => bySuite.get(id) ?? [];
  const t = r.totals;
  const timing = Object.entries(r.timings)
    .filter(([, v]) => typeof v === 'number')
    .map(([k, v]) => `<tr><td>${esc(k)}</td><td>${(v as number).toFixed(2)} s</td></tr>`)
    .join('');
  const profiles = r.profiles
    .map((p) => `<tr><td>${esc(p.name)}</td><td class="${p.supported ? 'pass' : 'skip'}">${p.supported ? 'supported' : 'absent'}${p.required ? ' (required)' : ''}</td><td>${esc(p.evidence)}</td></tr>`)
    .join('');
  const suites = r.suites
    .map((s) => {
      const st = { pass: 0, fail: 0, skip: 0, error: 0 };
      for (const c of casesOf(s.id)) st[c.status]++;
      return `<tr><td><a href="#suite-${esc(s.id)}">${esc(s.id)}</a></td><td class="${s.status}">${s.status}</td><td>${st.pass}</td><td>${st.fail}</td><td>${st.skip}</td><td>${st.error}</td><td>${(s.seconds ?? 0).toFixed(2)}</td><td>${esc(s.reason ?? '')}</td></tr>`;
    })
    .join('');
  const caseBlocks = r.suites
    .map((s, si) => {
      const cases = casesOf(s.id);
      const items = cases
        .map((c) => {
          const tap = esc(a.caseTap[index.get(c)!]?.[0] ?? '');
          const d = c.status === 'pass' ? '' : caseDetail(c);
          const detail = d ? ` — ${d}` : '';
          return `<li id="${anchor(c, index.get(c)!)}" class="${c.status}"><b>${c.status}</b> ${esc(c.id)}${detail}${tap ? `<pre>${tap}</pre>` : ''}</li>`;
        })
        .join('\n');
      const open = s.status !== 'pass' && s.status !== 'skip' ? ' open' : '';
      const stderr = a.stderr.filter((e) => e.suite === s.id).map((e) => e.line);
      const stderrBlock = stderr.length ? `<details class="stderr"${open}><summary>stderr (${stderr.length} lines)</summary><pre>${esc(stderr.join('\n'))}</pre></details>` : '';
      return `<details id="suite-${esc(s.id)}"${open}><summary>${esc(s.id)}: ${s.status} (${cases.length} cases)${s.reason ? ` — ${esc(s.reason)}` : ''}</summary><ul class="cases">${items}</ul>${stderrBlock}<details><summary>TAP</summary><pre>${esc((a.suiteTap[si] ?? []).join('\n'))}</pre></details></details>`;
    })
    .join('\n');
  const overridden = Object.keys(r.overriddenExpectations ?? {}).length;
  const bad = all.filter((c) => c.status === 'fail' || c.status === 'error');
  const failures = bad.length
    ? `<h2>Failures (${bad.length})</h2><ul class="failures">${bad
        .slice(0, 100)
        .map((c) => `<li class="${c.status}"><a href="#${anchor(c, index.get(c)!)}">${esc(c.id)}</a>${caseDetail(c) ? ` — ${caseDetail(c)}` : ''}</li>`)
        .join('')}${bad.length > 100 ? `<li>… ${bad.length - 100} more under Cases</li>` : ''}</ul>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>omayexec-conformance ${esc(r.runId)}: ${r.verdict}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}.verdict{padding:.2em .6em;border-radius:4px;color:#fff}
.v-pass{background:#2e7d32}.v-fail,.v-error,.v-panic,.v-boot-failure,.v-timeout{background:#c62828}.v-skip{background:#757575}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 5px;text-align:left;vertical-align:top}
td.pass,li.pass b{color:#2e7d32}td.fail,td.error,td.timeout,li.fail b,li.error b{color:#c62828}td.skip,li.skip b{color:#757575}
.gridwrap{overflow-x:auto;max-width:100%}
.grid td{padding:1px 2px;white-space:nowrap;vertical-align:middle}.grid th{font-size:11px;white-space:nowrap;vertical-align:middle}
.grid .tstart{border-left:2px solid #888}.grid tr.sstart>*{border-top:2px solid #888}
.sq{display:block;box-sizing:border-box;min-width:4.8em;font:9px/13px ui-monospace,'DejaVu Sans Mono',monospace;text-align:center;padding:0 1px;text-decoration:none;color:#fff;border-radius:2px;overflow:hidden;white-space:nowrap}
.sq+.sq{margin-top:1px}
.sq.pass{background:#43a047}.sq.fail,.sq.error{background:#e53935;font-weight:bold;font-size:7.5px;letter-spacing:-.2px}.sq.skip{background:#9e9e9e}.sq.none{background:#eee;color:#999}
ul.failures{padding-left:1.2em}ul.failures li.fail,ul.failures li.error{color:#c62828}
pre{background:#f6f6f6;padding:.3em;overflow-x:auto;font-size:12px;margin:.2em 0}ul.cases{list-style:none;padding-left:.5em}
.note{background:#fff3cd;padding:.5em;border:1px solid #e0c060}
</style></head><body>
<h1>O_MAYEXEC conformance: <span class="verdict v-${r.verdict}">${r.verdict}</span> (exit ${r.exitCode})</h1>
${overridden ? `<p class="note">${overridden} expectation(s) were deliberately overridden: this run tests the suite, it is no verdict on the kernel.</p>` : ''}
<p>${esc(r.why)}</p>
<table><tr><th>run</th><td>${esc(r.runId)} (${r.mode})</td></tr>
<tr><th>kernel</th><td>${esc(r.kernel.release ?? '?')} — ${esc(r.kernel.source)}</td></tr>
<tr><th>image</th><td>${esc(r.kernel.path ?? '-')}<br>sha256 ${esc(r.kernel.sha256 ?? '-')}</td></tr>
<tr><th>cases</th><td>${t.pass} passed, ${t.fail} failed, ${t.skip} skipped, ${t.error} errors</td></tr>
${r.qemu ? `<tr><th>QEMU</th><td>${esc(r.qemu.accel)}; exit ${r.qemu.exitCode ?? '-'} ${r.qemu.killedFor ? `(killed: ${esc(r.qemu.killedFor)})` : ''}</td></tr>` : ''}
${r.consoleSigns.length ? `<tr><th>console</th><td>${r.consoleSigns.map((s) => `${esc(s.kind)}: ${esc(s.line)}`).join('<br>')}</td></tr>` : ''}
</table>
${failures}
<h2>Profiles</h2><table><tr><th>profile</th><th>status</th><th>probe evidence</th></tr>${profiles}</table>
<h2>Timings</h2><table>${timing}</table>
<h2>Suites</h2><table><tr><th>suite</th><th>status</th><th>pass</th><th>fail</th><th>skip</th><th>error</th><th>s</th><th>reason</th></tr>${suites}</table>
<h2>O_MAYEXEC policy matrix</h2>${policyGrid(all, index)}
<h2>Cases</h2>${caseBlocks}
</body></html>
`;
}
