// Every suite of the conformance run, by id, as a lazy import: the suite host
// bundles them all into one file and evaluates a suite only when told to run
// it. `npm run build` fails when a file under suites/ is missing here.
export const SUITE_MODULES: Record<string, () => Promise<unknown>> = {
  exec: () => import('./exec/exec.js'),
  uselib: () => import('./uselib/uselib.js'),
  'omayexec-policy': () => import('./omayexec/omayexec-policy.js'),
  'omayexec-sysctl': () => import('./omayexec/omayexec-sysctl.js'),
  'omayexec-extra': () => import('./omayexec/omayexec-extra.js'),
  'execve-check': () => import('./execve-check/execve-check.js'),
  ima: () => import('./ima/ima.js'),
};
