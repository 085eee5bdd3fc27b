// The suite host: one node process that loads tap and the suites' code once,
// then runs the suites the runner names on stdin, one at a time, each with a
// TAP stream of its own framed by begin/end markers. Starting node and
// loading tap costs ~3 s per process under emulation, far more than most
// suites' syscalls; the runner keeps the isolation that separate processes
// gave: when the host dies or hangs in a suite, that suite is reported
// crashed or timed out and a fresh host runs the rest.
import { existsSync, readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { SUITE_MODULES } from '../suites/index.js';
import { encodeHostMarker, type HostConfig, type HostMarker } from './protocol.js';
import { beginSuite, CHILD_OPTION, endSuite, enterHostMode } from './suite.js';
import * as sys from './sys.js';

function marker(m: HostMarker): void {
  process.stdout.write(encodeHostMarker(m) + '\n');
}

function uptime(): number {
  return Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
}

/** A suite outside the bundle: the project's crafted fault suites (tests only). */
function externalSuite(id: string): string | null {
  const extra = process.env.OMAYEXEC_EXTRA_SUITES;
  if (extra && existsSync(`${extra}/${id}.js`)) return `${extra}/${id}.js`;
  const copied = fileURLToPath(new URL(`./suites/${id}.js`, import.meta.url));
  return existsSync(copied) ? copied : null;
}

/** The suites read these (harness/suite.ts, ima). */
function applyConfig(c: HostConfig): void {
  process.env.OMAYEXEC_EXPECT = c.expect.join(',');
  process.env.OMAYEXEC_FRESH_BOOT = c.freshBoot ? '1' : '0';
  process.env.OMAYEXEC_OVERRIDES = JSON.stringify(c.overrides);
}

/** Whether harness/host-loader.ts could use the V8 code cache of this bundle. */
function codeCacheState(): string {
  return (globalThis as { __omxCodeCache?: string }).__omxCodeCache ?? 'none';
}

async function runOne(id: string): Promise<number> {
  const load = SUITE_MODULES[id] ?? (() => {
    const path = externalSuite(id);
    if (!path) throw new Error(`no suite named ${id}`);
    const url = pathToFileURL(path).href;
    // Through the loader when run from the CommonJS bundle (host-loader.ts).
    const viaLoader = (globalThis as { __omxImport?: (u: string) => Promise<unknown> }).__omxImport;
    return viaLoader ? viaLoader(url) : import(url);
  });
  // Pipes are written synchronously on Linux: each TAP line is out before
  // the suite's next syscall, which keeps kernel warnings attributable.
  beginSuite(id, (chunk) => process.stdout.write(chunk));
  try {
    await load();
  } catch (e) {
    return endSuite(e);
  }
  return endSuite();
}

async function main(): Promise<void> {
  if (process.argv[2] === CHILD_OPTION) {
    // A suite's child (see suiteChildArgs): the suite's module in its child role.
    const load = SUITE_MODULES[process.argv[3] ?? ''];
    if (!load) throw new Error(`no suite named ${process.argv[3]}`);
    await load();
    return;
  }
  // Never outlive the runner (killed, or interrupted in direct mode): a suite
  // left running would keep changing the system after the run reported.
  sys.prctl(sys.PR_SET_PDEATHSIG, osConstants.signals.SIGKILL);
  if (process.ppid === 1) process.exit(6); // orphaned before the line above
  enterHostMode();
  marker({ kind: 'ready', uptime: uptime(), loadSeconds: process.uptime(), codeCache: codeCacheState() });
  let configured = false;
  for await (const line of createInterface({ input: process.stdin })) {
    if (!configured) {
      applyConfig(JSON.parse(line) as HostConfig);
      configured = true;
      continue;
    }
    const id = line.trim();
    if (!id) break;
    marker({ kind: 'begin', suite: id });
    const t0 = performance.now();
    const exit = await runOne(id);
    marker({ kind: 'end', suite: id, exit, seconds: (performance.now() - t0) / 1000 });
  }
  process.exit(0); // whatever a suite left pending (timers, handles) ends here
}

// Building the V8 code cache (harness/host-loader.ts) only evaluates this
// module; it must not start reading suites from stdin.
if (process.env.OMAYEXEC_CODE_CACHE_BUILD !== '1') {
  main().catch((e: Error) => {
    process.stderr.write(`suite host: ${e.stack ?? e.message}\n`);
    process.exit(6);
  });
}
