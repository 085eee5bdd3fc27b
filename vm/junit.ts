// junit.xml from the record alone: one testsuite per suite, one testcase per
// case; a suite skipped as a whole is one skipped testcase.
import { casesBySuite, totalsOf, type RunRecord } from './record.js';

function xml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!)
    // XML 1.0 forbids most control characters.
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');
}

export function toJunit(record: Pick<RunRecord, 'suites' | 'cases' | 'kernel' | 'verdict'>): string {
  const out = ['<?xml version="1.0" encoding="UTF-8"?>'];
  const bySuite = casesBySuite(record.cases);
  const casesOf = (id: string) => bySuite.get(id) ?? [];
  // A suite skipped as a whole has no cases: it is written as one skipped
  // testcase, and counted as such at the root too.
  const all = record.suites.flatMap((s) => (casesOf(s.id).length ? casesOf(s.id) : [{ status: 'skip' }]));
  const t = totalsOf(all);
  out.push(`<testsuites name="omayexec-conformance" tests="${all.length}" failures="${t.fail}" errors="${t.error}" skipped="${t.skip}">`);
  for (const s of record.suites) {
    const cases = casesOf(s.id);
    const st = totalsOf(cases);
    const time = (s.seconds ?? 0).toFixed(3);
    out.push(`  <testsuite name="${xml(s.id)}" tests="${cases.length || 1}" failures="${st.fail}" errors="${st.error}" skipped="${cases.length ? st.skip : 1}" time="${time}">`);
    out.push(`    <properties><property name="kernel.release" value="${xml(record.kernel.release ?? '')}"/><property name="verdict" value="${record.verdict}"/></properties>`);
    if (!cases.length) {
      out.push(`    <testcase classname="omayexec.${xml(s.id)}" name="${xml(s.id)}"><skipped message="${xml(s.reason ?? '')}"/></testcase>`);
    }
    for (const c of cases) {
      out.push(`    <testcase classname="omayexec.${xml(s.id)}" name="${xml(c.id)}">`);
      const detail = `expected ${c.expected ?? '?'}, actual ${c.actual ?? '?'}${c.reason ? `; ${c.reason}` : ''}`;
      if (c.status === 'fail') out.push(`      <failure message="${xml(detail)}" type="mismatch">${xml(detail)}</failure>`);
      if (c.status === 'error') out.push(`      <error message="${xml(c.reason ?? 'error')}" type="error"/>`);
      if (c.status === 'skip') out.push(`      <skipped message="${xml(c.reason ?? '')}"/>`);
      out.push('    </testcase>');
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return out.join('\n') + '\n';
}
