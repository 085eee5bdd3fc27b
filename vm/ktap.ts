// results.ktap in its two forms, from the record and the suites' own TAP:
// kselftest's runner format (TAP 13, each suite's TAP nested under "# ") and
// TAP 14 (`run --format tap14`: each suite's TAP as an indented subtest).
// Both end with kselftest's Totals line.
import type { RunArtifacts, RunRecord, Totals } from './record.js';

type TapInput = Pick<RunArtifacts, 'suiteTap'>;
type TapRecord = Pick<RunRecord, 'suites' | 'totals'>;

function totalsLine(t: Totals): string {
  return `# Totals: pass:${t.pass} fail:${t.fail} xfail:0 xpass:0 skip:${t.skip} error:${t.error}`;
}

/** kselftest's runner format: each suite's TAP nested under "# ". */
export function toKtap(record: TapRecord, a: TapInput): string {
  const out = ['TAP version 13', `1..${record.suites.length}`];
  record.suites.forEach((s, i) => {
    out.push(`# selftests: omayexec: ${s.id}`);
    for (const l of a.suiteTap[i] ?? []) out.push(l ? `# ${l}` : '#');
    const directive = s.status === 'skip' ? ` # SKIP ${s.reason ?? ''}`.trimEnd() : s.status === 'timeout' ? ' # TIMEOUT' : '';
    const ok = s.status === 'pass' || s.status === 'skip';
    out.push(`${ok ? 'ok' : 'not ok'} ${i + 1} selftests: omayexec: ${s.id}${directive}`);
  });
  out.push(totalsLine(record.totals));
  return out.join('\n') + '\n';
}

const yamlString = (s: string) => JSON.stringify(s);

/**
 * TAP 14: each suite's own TAP indented 4 spaces under
 * "# Subtest: omayexec: <suite>", closed by "ok N - omayexec: <suite>"
 * (skips carry "# SKIP reason"; failures a YAML block with status and reason).
 */
export function toTap14(record: TapRecord, a: TapInput): string {
  const out = ['TAP version 14', `1..${record.suites.length}`];
  record.suites.forEach((s, i) => {
    const name = `omayexec: ${s.id}`;
    out.push(`# Subtest: ${name}`);
    for (const l of a.suiteTap[i] ?? []) {
      // A nested stream's version line is implied by the parent's.
      if (/^\s*TAP version \d+\s*$/.test(l)) continue;
      out.push(l.trim() ? `    ${l}` : '');
    }
    const ok = s.status === 'pass' || s.status === 'skip';
    const reason = (s.reason ?? '').replace(/[\r\n]+/g, ' ').replace(/#/g, '\\#');
    const directive = s.status === 'skip' ? ` # SKIP${reason ? ` ${reason}` : ''}` : '';
    out.push(`${ok ? 'ok' : 'not ok'} ${i + 1} - ${name}${directive}`);
    if (!ok) {
      out.push('  ---', `  status: ${s.status}`);
      if (s.reason) out.push(`  message: ${yamlString(s.reason)}`);
      if (s.seconds !== null) out.push(`  seconds: ${s.seconds}`);
      out.push('  ...');
    }
  });
  out.push(totalsLine(record.totals));
  return out.join('\n') + '\n';
}
