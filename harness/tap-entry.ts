// Entry of dist/harness/tap-bundle.js (vm/bundle.ts bundles it): tap's Test
// class in one file. @tapjs/core first, as tapTest() imports it.
import '@tapjs/core';
export { Test } from '@tapjs/test';
