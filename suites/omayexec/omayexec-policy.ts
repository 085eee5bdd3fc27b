// Suite omayexec-policy: the upstream v7 selftest's 16 policy cases, every
// open of every object, as one TAP line each (SPEC.md §2.3, §2.4, §2.6).
import { policyCaseName, policyCases, VARIANTS, type PolicyCase } from '../../fixtures/omayexec-policy.js';
import { selftestFlags, tryOpen } from '../../harness/opener.js';
import { expectOutcome, gate, openFdCount, reportMetrics, skipCase } from '../../harness/suite.js';
import { suiteGate } from '../../fixtures/suites.js';
import { withSysctl } from '../../harness/sysctl.js';
import * as sys from '../../harness/sys.js';
import { loopDriverPresent, NO_LOOP_REASON, OBJECT_TYPES, withWorkMount } from '../../harness/workmount.js';

const DAC_CAPS = [sys.CAP.DAC_OVERRIDE, sys.CAP.DAC_READ_SEARCH];

function withCapState<T>(caps: PolicyCase['caps'], fn: () => T): T {
  return caps === 'dac' ? fn() : sys.withoutEffectiveCaps(DAC_CAPS, fn);
}

if (gate(suiteGate('omayexec-policy'))) {
  const fdsBefore = openFdCount();
  const all = policyCases(OBJECT_TYPES);
  let openMs = 0;
  let opens = 0;
  for (const v of VARIANTS) {
    withWorkMount({ noexec: v.mount === 'noexec', mode: v.mode }, (m) => {
      const loop = loopDriverPresent(m.paths.block);
      for (const sysctl of [0, 1, 2, 3] as const) {
        const cases = all.filter((c) => c.mount === v.mount && c.mode === v.mode && c.sysctl === sysctl);
        // Outcomes are collected under the sysctl (and capability state), then
        // reported after both are restored.
        // One capability switch per state, not per open.
        const openAll = (caps: PolicyCase['caps']) =>
          withCapState(caps, () =>
            cases
              .filter((c) => c.caps === caps)
              .map((c) => ({ c, actual: c.type === 'block' && !loop ? null : tryOpen(c.via, m.paths[c.type], selftestFlags(c.type === 'fifo')) })),
          );
        const t0 = performance.now();
        const outcomes = withSysctl(sysctl, () => [...openAll('dac'), ...openAll('no-dac')]);
        openMs += performance.now() - t0;
        opens += outcomes.length;
        const byCase = new Map(outcomes.map((o) => [o.c, o.actual]));
        const results = cases.map((c) => ({ c, actual: byCase.get(c)! }));
        for (const { c, actual } of results) {
          if (actual === null) skipCase(policyCaseName(c), c.expected, NO_LOOP_REASON);
          else expectOutcome(policyCaseName(c), actual, c.expected);
        }
      }
    });
  }
  expectOutcome('policy no fd leaked by the suite (open fds before/after)', String(openFdCount()), String(fdsBefore));
  // Includes the sysctl writes and capability switches around the opens.
  reportMetrics({ opens, microsPerOpen: Math.round((openMs * 1000) / Math.max(opens, 1)) });
}
