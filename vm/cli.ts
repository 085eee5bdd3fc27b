// The command line: run, kernel build, pack, compare... Bad input gets one
// clear line and exit 2; harness failures exit 6; never a stack trace.
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { MAX_TIMEOUT_SEC } from './run.js';
import { orderSuites } from '../suites/index.js';
import { isProfileName, PROFILE_NAMES } from '../harness/profiles.js';
import { DEBIAN_SERIES, fetchDebianKernel, type DebianSeries } from './debian.js';
import { BadInputError, commandFailure, EXIT, HarnessError } from './errors.js';
import { PATCH_SETS, SERIES } from './kernel/recipe.js';
import { Progress, type Verbosity } from './progress.js';
import { availableSuites, runDirect, runInVm, type RunOptions } from './run.js';
import { isKcidbOrigin } from './kcidb-schema.js';
import { DEFAULT_CI_OUTPUT, RESULT_FORMATS } from './results.js';

const USAGE = `usage: omayexec-conformance <command> [options]

commands:
  run [--kernel PATH | --debian 6.1|6.12 | --reference 6.1|6.12 | --direct]
      [--suite NAME]... [--expect PROFILE]... [--quiet | --verbose]
      [--boot-timeout S] [--suite-timeout S] [--run-timeout S] [--append ARGS]
      [--config FILE | --skip-config-check]
      [--format ktap|tap14] [--kcidb-origin NAME]  results.ktap form; origin of kcidb.json's ids
      With no kernel option: the reference kernel 6.1 (built once, then cached).
  kernel build --series 6.1|6.12 [--source DIR] [--patches omayexec-v7|none] [--extra-patch FILE]...
                                    the image path on stdout; exit 6 if a patch or the build fails
  mutants [--series 6.1] [--only FAULT]...  build and verify each fault-injected kernel;
                                    exit 1 if a fault survives or the reference fails
  pack [-o FILE]                    a self-contained bundle to run on a device with its own node
  ingest FILE                       turn a bundle's output stream into a run folder
  compare BASE CANDIDATE [--json]   regressions, fixes, newly skipped/run cases;
                                    exit 1 on a regression or lost coverage (git bisect run)

exit status of run: 0 conformant, 1 a case failed, 2 bad usage or input,
3 kernel panic/oops, 4 nothing verifiable, 5 timeout, 6 boot failure or harness error`;

class UsageError extends BadInputError {}

/** The reference-kernel recipe, loaded only by the commands that build. */
const kernelBuilder = () => import('./kernel/build.js');

function oneOf<T extends string>(what: string, value: string, valid: readonly T[]): T {
  if (!(valid as readonly string[]).includes(value)) throw new UsageError(`unknown ${what} '${value}'; valid: ${valid.join(', ')}`);
  return value as T;
}

function seconds(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} takes a positive number of seconds, not '${v}'`);
  // Node fires timers above 2^31-1 ms at once: such a timeout would end the run immediately.
  if (n > MAX_TIMEOUT_SEC) throw new UsageError(`--${name} ${v} is above the longest timeout possible (${MAX_TIMEOUT_SEC} s, about 24 days)`);
  return n;
}

/** parseArgs keeps the last of a repeated single-valued option: repeating one is an error instead. */
function refuseRepeated(argv: string[], options: Record<string, { type: string; multiple?: boolean }>): void {
  for (const [name, o] of Object.entries(options)) {
    if (o.multiple) continue;
    const n = argv.filter((a) => a === `--${name}` || a.startsWith(`--${name}=`)).length;
    if (n > 1) throw new UsageError(`--${name} given ${n} times: give it once`);
  }
}

const RUN_OPTIONS = {
  kernel: { type: 'string' },
  debian: { type: 'string' },
  reference: { type: 'string' },
  direct: { type: 'boolean' },
  suite: { type: 'string', multiple: true },
  expect: { type: 'string', multiple: true },
  quiet: { type: 'boolean' },
  verbose: { type: 'boolean' },
  'boot-timeout': { type: 'string' },
  'suite-timeout': { type: 'string' },
  'run-timeout': { type: 'string' },
  append: { type: 'string' },
  config: { type: 'string' },
  'skip-config-check': { type: 'boolean' },
  format: { type: 'string' },
  'kcidb-origin': { type: 'string' },
  // For the project's own tests: make one expectation wrong on purpose.
  'override-expectation': { type: 'string', multiple: true },
} as const;

async function runCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, strict: true, options: RUN_OPTIONS });
  refuseRepeated(argv, RUN_OPTIONS);
  // Before any kernel is fetched or built: a config file that is not there is bad input.
  if (values.config !== undefined && !(existsSync(values.config) && statSync(values.config).isFile())) {
    throw new UsageError(`--config ${values.config}: ${existsSync(values.config) ? 'not a file' : 'no such file'}`);
  }
  const chosen = ['kernel', 'debian', 'reference', 'direct'].filter((k) => values[k as keyof typeof values] !== undefined);
  if (chosen.length > 1) throw new UsageError(`choose one of --${chosen.join(', --')}`);
  const suites = availableSuites();
  if (!suites.length) throw new HarnessError('no compiled suites found: run npm run build');
  const wanted = values.suite ? values.suite.map((s) => oneOf('suite', s, suites)) : orderSuites(suites);
  const expect = (values.expect ?? []).map((p) => {
    if (!isProfileName(p)) throw new UsageError(`unknown profile '${p}'; valid: ${PROFILE_NAMES.join(', ')}`);
    return p;
  });
  const format = oneOf('format', values.format ?? DEFAULT_CI_OUTPUT.format, RESULT_FORMATS);
  const kcidbOrigin = values['kcidb-origin'] ?? DEFAULT_CI_OUTPUT.kcidbOrigin;
  if (!isKcidbOrigin(kcidbOrigin)) throw new UsageError(`--kcidb-origin takes a KCIDB origin (lower-case letters, digits, _), not '${kcidbOrigin}'`);
  const verbosity: Verbosity = values.quiet ? 'quiet' : values.verbose ? 'verbose' : 'normal';
  const progress = new Progress(verbosity);
  const overrides: Record<string, string> = {};
  for (const spec of values['override-expectation'] ?? []) {
    const at = spec.lastIndexOf('=');
    if (at <= 0) throw new UsageError(`--override-expectation takes 'CASE NAME=OUTCOME', not '${spec}'`);
    overrides[spec.slice(0, at)] = spec.slice(at + 1);
  }
  const o: RunOptions = {
    suites: wanted,
    overrides,
    ci: { format, kcidbOrigin },
    configPath: values.config,
    skipConfigCheck: values['skip-config-check'],
    expect,
    kernelSource: '',
    progress,
    appendExtra: values.append,
    bootTimeoutSec: seconds('boot-timeout', values['boot-timeout']),
    suiteTimeoutSec: seconds('suite-timeout', values['suite-timeout']),
    runTimeoutSec: seconds('run-timeout', values['run-timeout']),
  };
  if (values.direct) {
    if (process.getuid?.() !== 0) throw new UsageError('run --direct needs root (it mounts tmpfs, makes device nodes and sets sysctls); try sudo');
    o.direct = true;
    o.kernelSource = 'direct';
  } else if (values.kernel !== undefined) {
    o.kernelPath = values.kernel;
    o.kernelSource = `file ${values.kernel}`;
  } else if (values.debian !== undefined) {
    const series = oneOf('Debian series', values.debian, DEBIAN_SERIES) as DebianSeries;
    progress.phase(`kernel: Debian ${series} cloud (apt-get download, cached)`);
    const k = fetchDebianKernel(series, (l) => progress.info(l));
    o.kernelPath = k.image;
    o.modules = k.modules;
    o.onDemandModules = k.onDemandModules;
    o.kernelSource = `debian ${k.package} ${k.version}`;
  } else {
    const series = oneOf('reference series', values.reference ?? '6.1', SERIES);
    progress.phase(`kernel: reference ${series} with the omayexec-v7 patches (built once, then cached)`);
    const { buildKernel } = await kernelBuilder();
    const k = await buildKernel({ series, patches: 'omayexec-v7', log: (l: string) => progress.info(l) });
    o.kernelPath = k.image;
    o.kernelSource = `reference ${series} omayexec-v7 (key ${k.key})`;
  }
  const { record, dir } = o.direct ? await runDirect(o) : await runInVm(o);
  const t = record.totals;
  const overridden = Object.keys(record.overriddenExpectations).length;
  const out = [
    ...(overridden ? [`NOTE: ${overridden} expectation(s) were deliberately overridden: this run is a test of the suite, not a verdict on the kernel`] : []),
    `verdict: ${record.verdict} (exit ${record.exitCode}) — ${record.why}`,
    `kernel: ${record.kernel.release ?? '?'} [${record.kernel.source}]`,
    ...record.profiles.map((p) => `profile ${p.name}: ${p.supported ? 'supported' : 'absent'}${p.required ? ' (required)' : ''} — ${p.evidence}`),
    `cases: ${t.pass + t.fail + t.skip + t.error} executed: ${t.pass} passed, ${t.fail} failed, ${t.skip} skipped, ${t.error} errors`,
    `time: ${Number(record.timings.total).toFixed(1)} s; results in ${dir}`,
  ];
  console.log(out.join('\n'));
  return record.exitCode;
}

const KERNEL_BUILD_USAGE =
  'usage: omayexec-conformance kernel build --series 6.1|6.12 [--source DIR] [--patches omayexec-v7|none] [--extra-patch FILE]...';

const KERNEL_BUILD_OPTIONS = {
  series: { type: 'string' },
  source: { type: 'string' },
  patches: { type: 'string' },
  'extra-patch': { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const;

/** The reference kernel's image path on stdout, the build's progress on stderr. */
async function kernelBuildCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, strict: true, options: KERNEL_BUILD_OPTIONS });
  refuseRepeated(argv, KERNEL_BUILD_OPTIONS);
  if (values.help) {
    console.log(KERNEL_BUILD_USAGE);
    return EXIT.ok;
  }
  if (values.series === undefined) throw new UsageError(`kernel build needs --series ${SERIES.join('|')}`);
  const series = oneOf('series', values.series, SERIES);
  const patches = oneOf('patch set', values.patches ?? 'omayexec-v7', PATCH_SETS);
  if (values.source === '') throw new UsageError('--source needs a directory');
  const extraPatches = (values['extra-patch'] ?? []).map((p) => {
    if (!p) throw new UsageError('--extra-patch needs a file');
    return resolve(p);
  });
  const { buildKernel } = await kernelBuilder();
  const r = await buildKernel({ series, source: values.source, patches, extraPatches, log: (l) => process.stderr.write(l + '\n') });
  process.stderr.write(`kernel ${series} ${patches}: key ${r.key}${r.cached ? ' (cached)' : ''}, ${r.seconds.toFixed(1)} s\n`);
  process.stdout.write(r.image + '\n');
  return EXIT.ok;
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'run':
        return await runCommand(rest);
      case 'compare': {
        const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { json: { type: 'boolean' } } });
        if (positionals.length !== 2) throw new UsageError('compare takes two runs: BASE CANDIDATE (run folders, results.json files or run ids)');
        const { compareRuns, formatComparison, loadRun } = await import('./compare.js');
        const c = compareRuns(loadRun(positionals[0]!), loadRun(positionals[1]!));
        console.log(values.json ? JSON.stringify(c, null, 2) : formatComparison(c));
        // A kernel that lost a feature (cases that passed now skip) regressed too.
        return c.regressions.length || c.lost.length ? EXIT.failed : EXIT.ok;
      }
      case 'pack': {
        const { values } = parseArgs({ args: rest, options: { output: { type: 'string', short: 'o' } } });
        const { pack } = await import('./pack.js');
        const out = pack(values.output ?? `omayexec-conformance-${process.arch}.tar.gz`);
        console.log(`${out}\non the device: tar xzf it, then: sudo ./omayexec-conformance/run_omayexec.sh > omayexec.raw\nback here: omayexec-conformance ingest omayexec.raw`);
        return EXIT.ok;
      }
      case 'ingest': {
        const { positionals } = parseArgs({ args: rest, allowPositionals: true, options: {} });
        if (positionals.length !== 1) throw new UsageError('ingest takes one file: the stream printed by run_omayexec.sh');
        const { ingest } = await import('./run.js');
        const { record, dir } = ingest(positionals[0]!);
        console.log(`verdict: ${record.verdict} (exit ${record.exitCode}) — ${record.why}\nresults in ${dir}`);
        return record.exitCode;
      }
      case 'mutants': {
        const { values } = parseArgs({ args: rest, options: { series: { type: 'string' }, only: { type: 'string', multiple: true }, quiet: { type: 'boolean' } } });
        const series = oneOf('series', values.series ?? '6.1', SERIES);
        const { formatMatrix, listFaults, pinned, runMutants } = await import('./mutants.js');
        if (!listFaults(series).length) throw new UsageError(`no fault patches for series ${series} (vm/kernel/faults/${series}/)`);
        const progress = new Progress(values.quiet ? 'quiet' : 'normal');
        const { results, referencePass, dir, seconds } = await runMutants(series, values.only ?? [], progress);
        console.log(formatMatrix(results, referencePass ? 'pass' : 'NOT PASSING', seconds));
        console.log(`written: ${dir}/mutants.json`);
        return referencePass && results.every(pinned) ? EXIT.ok : EXIT.failed;
      }
      case 'kernel':
        if (rest[0] !== 'build') throw new UsageError(`unknown kernel subcommand '${rest[0] ?? ''}'; valid: build`);
        return await kernelBuildCommand(rest.slice(1));
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        console.log(USAGE);
        return cmd === undefined ? EXIT.badInput : EXIT.ok;
      default:
        throw new UsageError(`unknown command '${cmd}'`);
    }
  } catch (e) {
    const failure = commandFailure(e);
    console.error(failure.line);
    return failure.exitCode;
  }
}
