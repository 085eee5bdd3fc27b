// make in the O= directory of one configuration: the configuration step
// (tinyconfig, the project's fragment merged in, olddefconfig; skipped while
// its stamp matches) checked against the fragment, then bzImage with
// progress. A failed step is a harness error naming its first error line
// and the full log.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { HarnessError } from '../errors.js';
import { programFact } from '../host-facts.js';
import { checkFragment } from '../kconfig.js';
import { runToEnd, type RunToEndResult } from '../process-lines.js';
import { readIfExists, sha256 } from './files.js';
import { fragmentPath, REPRODUCIBLE_ENV, type Series } from './recipe.js';

function capture(cmd: string, args: string[]): string | null {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) return null;
  return r.stdout;
}

/** Compiler identity for the cache key: the first line of `gcc --version` ('' when unknown), learnt once per gcc binary. */
export function toolchainId(): string {
  return programFact('gcc-version', 'gcc', () => capture('gcc', ['--version'])?.split('\n')[0]!.trim() ?? '') ?? '';
}

export interface MakeContext {
  /** What is being built, for messages: "6.1, omayexec-v7". */
  what: string;
  series: Series;
  /** The patched work tree (make -C). */
  work: string;
  /** The O= directory. */
  buildDir: string;
  cc: string;
  env: NodeJS.ProcessEnv;
  logPath: string;
  log: (line: string) => void;
  /** A line for the full build log only. */
  logLine: (line: string) => void;
}

export function makeContext(o: Omit<MakeContext, 'cc' | 'env'>): MakeContext {
  mkdirSync(o.buildDir, { recursive: true });
  const cc = capture('ccache', ['--version']) !== null ? 'ccache gcc' : 'gcc';
  if (cc === 'gcc') o.log('[build] ccache not found: compiling without it');
  return { ...o, cc, env: { ...process.env, ...REPRODUCIBLE_ENV, LC_ALL: 'C' } };
}

function makeArgs(c: MakeContext, ...targets: string[]): string[] {
  return ['-C', c.work, `O=${c.buildDir}`, `CC=${c.cc}`, ...targets];
}

/** A line of make's output that says what went wrong. */
const ERROR_LINE = /(\berror:|\*\*\* |undefined reference)/;

/**
 * The context to the log (the first error lines seen, the last lines), one
 * line to the error: the first error line, else the last line that is not
 * make leaving its directory.
 */
function makeFailed(c: MakeContext, what: string, r: RunToEndResult, errors: string[] = []): HarnessError {
  if (errors.length) c.log('[build] first error lines:');
  for (const l of errors) c.log(`[build] | ${l}`);
  c.log('[build] last lines:');
  for (const l of r.tail.slice(-25)) c.log(`[build] | ${l}`);
  const why = errors[0] ?? r.tail.find((l) => ERROR_LINE.test(l)) ?? r.tail.filter((l) => l.trim() && !/^make(\[\d+\])?: Leaving directory/.test(l)).pop();
  return new HarnessError(`${what} failed (exit ${r.code})${why ? `: ${why.trim()}` : ''}; full log: ${c.logPath}`);
}

/**
 * The .config of the build directory: made again when the configuration key
 * or a Kconfig file the patches touch changed, its mtime kept when the result
 * is the same; every option of the fragment must have survived.
 */
export async function configure(c: MakeContext, cfgKey: string, touched: string[], fragment: string): Promise<string> {
  const kconfigTouched = touched.filter((f) => /(^|\/)Kconfig[^/]*$|(^|\/)configs\//.test(f));
  const stampDoc = JSON.stringify({
    cfgKey,
    kconfig: kconfigTouched.map((f) => [f, sha256(readIfExists(join(c.work, f)) ?? '')]),
  });
  const stampPath = join(c.buildDir, '.omayexec-config-stamp');
  const configPath = join(c.buildDir, '.config');
  if (existsSync(configPath) && readIfExists(stampPath)?.toString() === stampDoc) {
    c.log('[config] up to date');
  } else {
    c.log('[config] make tinyconfig + merge_config.sh omayexec.fragment + olddefconfig');
    const before = readIfExists(configPath);
    const beforeStat = before ? statSync(configPath) : null;
    const heartbeat = (s: number) => c.log(`[config] still running (${s} s)`);
    let r = await runToEnd('make', makeArgs(c, 'tinyconfig'), { env: c.env, onLine: c.logLine, heartbeat });
    if (r.code !== 0) throw makeFailed(c, 'make tinyconfig', r);
    r = await runToEnd('sh', [join(c.work, 'scripts/kconfig/merge_config.sh'), '-m', '-O', c.buildDir, configPath, fragmentPath()], {
      cwd: c.work,
      env: { ...c.env, CC: c.cc },
      onLine: c.logLine,
      heartbeat,
    });
    if (r.code !== 0) throw makeFailed(c, 'merge_config.sh', r);
    r = await runToEnd('make', makeArgs(c, 'olddefconfig'), { env: c.env, onLine: c.logLine, heartbeat });
    if (r.code !== 0) throw makeFailed(c, 'make olddefconfig', r);
    const after = readFileSync(configPath);
    if (before && beforeStat && before.equals(after)) {
      // Same configuration as before: keep the old mtime so make does not resync.
      utimesSync(configPath, beforeStat.atime, beforeStat.mtime);
    }
    writeFileSync(stampPath, stampDoc);
  }
  const lost = checkFragment(fragment, readFileSync(configPath, 'utf8'));
  if (lost.length) {
    rmSync(stampPath, { force: true });
    for (const l of lost) c.log(`[config] lost: ${l}`);
    throw new HarnessError(
      `the config fragment did not survive olddefconfig for ${c.series}: ${lost.length} option(s) lost, first ${lost[0]} ` +
        `(fragment: ${fragmentPath()}, config: ${configPath})`,
    );
  }
  return configPath;
}

export interface MadeImage {
  image: string;
  seconds: number;
  /** CC lines seen: objects compiled by this build. */
  objects: number;
}

/** make -jN bzImage, with a heartbeat that counts the objects compiled. */
export async function makeBzImage(c: MakeContext): Promise<MadeImage> {
  const jobs = String(Math.max(1, availableParallelism()));
  c.log(`[build] make -j${jobs} CC="${c.cc}" bzImage in ${c.buildDir}`);
  const errors: string[] = [];
  let objects = 0;
  let last = '';
  const started = Date.now();
  const r = await runToEnd('make', makeArgs(c, `-j${jobs}`, 'bzImage'), {
    env: c.env,
    onLine: (l) => {
      c.logLine(l);
      if (errors.length < 15 && ERROR_LINE.test(l)) errors.push(l);
      const m = /^\s+CC\s+(\S+)/.exec(l);
      if (m) {
        objects++;
        last = m[1]!;
      }
    },
    heartbeat: (s) => c.log(`[build] ${objects} objects (CC lines), ${s} s${last ? `, last: ${last}` : ''}`),
    heartbeatMs: 5000,
  });
  if (r.code !== 0) throw makeFailed(c, `make bzImage (${c.what})`, r, errors);
  const image = join(c.buildDir, 'arch/x86/boot/bzImage');
  if (!existsSync(image)) throw new HarnessError(`make succeeded but ${image} is missing; full log: ${c.logPath}`);
  return { image, seconds: (Date.now() - started) / 1000, objects };
}
