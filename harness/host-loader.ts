// Entry of the suite host (dist/guest/suite-host.js): runs the CommonJS
// bundle of harness/suite-host.ts through vm.Script with the V8 code cache
// `npm run build` wrote beside it, so the guest's node deserializes tap's
// and the suites' compiled code instead of compiling 630 KB of JavaScript
// (measured ~0.8 s of a ~2.5 s host start under emulation). A cache made by
// another node build is rejected by V8 and the bundle is compiled as usual.
// With OMAYEXEC_CODE_CACHE_BUILD=1 it evaluates the bundle without starting
// it and writes the cache.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const bundle = fileURLToPath(new URL('./suite-host.cjs', import.meta.url));
const cacheFile = `${bundle}.v8-cache`;
const building = process.env.OMAYEXEC_CODE_CACHE_BUILD === '1';
const cachedData = !building && existsSync(cacheFile) ? readFileSync(cacheFile) : undefined;
const wrapped = (Module as unknown as { wrap(code: string): string }).wrap(readFileSync(bundle, 'utf8'));
const script = new vm.Script(wrapped, { filename: bundle, cachedData });
// import() inside a vm.Script needs a callback node 20 only offers as an
// experimental API: the bundle loads suites outside it (the project's test
// suites) through this module's import() instead.
(globalThis as { __omxImport?: (url: string) => Promise<unknown> }).__omxImport = (url) => import(url);
(globalThis as { __omxCodeCache?: string }).__omxCodeCache = cachedData ? (script.cachedDataRejected ? 'rejected' : 'used') : 'none';
const moduleObject = { exports: {} };
const run = script.runInThisContext() as (...args: unknown[]) => void;
run.call(moduleObject.exports, moduleObject.exports, createRequire(bundle), moduleObject, bundle, dirname(bundle));
// After evaluation the cache also holds the functions run while loading.
if (building) writeFileSync(cacheFile, script.createCachedData());
