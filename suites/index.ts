// Every suite of the conformance run, by id, in run order (ima last: the
// policy rule it loads stays until the guest powers off). Lazy imports: a
// run loads only the suites it runs. `npm run build` fails when a file under
// suites/ is missing here.
import type { SuiteSpec } from '../harness/suite.js';

const spec = (m: { default: SuiteSpec }) => m.default;

export const SUITE_MODULES: Record<string, () => Promise<SuiteSpec>> = {
  exec: () => import('./exec/exec.js').then(spec),
  uselib: () => import('./uselib/uselib.js').then(spec),
  'omayexec-policy': () => import('./omayexec/omayexec-policy.js').then(spec),
  'omayexec-sysctl': () => import('./omayexec/omayexec-sysctl.js').then(spec),
  'omayexec-extra': () => import('./omayexec/omayexec-extra.js').then(spec),
  'execve-check': () => import('./execve-check/execve-check.js').then(spec),
  ima: () => import('./ima/ima.js').then(spec),
};

export const SUITE_IDS = Object.keys(SUITE_MODULES);

/** The specs of the registry suites among `ids` (their needs: profile, root, kconfig, sysctls), in run order. */
export async function suiteSpecs(ids: readonly string[] = SUITE_IDS): Promise<SuiteSpec[]> {
  return Promise.all(orderSuites(ids.filter((id) => id in SUITE_MODULES)).map(async (id) => ({ ...(await SUITE_MODULES[id]!()), id })));
}

/** Suite ids in run order; ids of extra suites keep their place after these. */
export function orderSuites(ids: string[]): string[] {
  const rank = (id: string) => (SUITE_IDS.includes(id) ? SUITE_IDS.indexOf(id) : SUITE_IDS.length);
  return [...ids].sort((a, b) => rank(a) - rank(b));
}
