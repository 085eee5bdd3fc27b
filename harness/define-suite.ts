// How a suite file declares itself. Its spec is all the runner needs; when
// the file is the program node was started with (`node
// dist/suites/exec/exec.js`, as root) it also runs at once on this machine's
// kernel and prints its TAP like a kselftest binary (harness/standalone.ts,
// loaded only then: it brings koffi).
import { pathToFileURL } from 'node:url';
import type { SuiteSpec } from './suite.js';

export function defineSuite(moduleUrl: string, spec: SuiteSpec): SuiteSpec {
  const main = process.argv[1];
  // In the board bundle every module shares the bundle's URL: never standalone there.
  if (process.env.OMX_BUNDLED !== '1' && main && pathToFileURL(main).href === moduleUrl) {
    void import('./standalone.js').then((m) => m.runStandalone(spec));
  }
  return spec;
}
