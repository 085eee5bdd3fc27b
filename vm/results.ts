// The run folder: created exclusively when a run starts, written once when
// it ends (results.json, results.ktap, junit.xml, report.html, kcidb.json,
// each from its own writer); console.log and results.raw are the
// launcher's. results/latest points at the newest run.
import { accessSync, constants, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { BadInputError, EXIT_CODES } from './errors.js';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { toJunit } from './junit.js';
import { kcidbJson } from './kcidb.js';
import { toKtap, toTap14 } from './ktap.js';
import { resultsRoot } from './paths.js';
import type { RunArtifacts, RunRecord } from './record.js';
import { toHtml } from './report-html.js';

/** `run --format`: which form results.ktap takes. */
export const RESULT_FORMATS = ['ktap', 'tap14'] as const;
export type ResultFormat = (typeof RESULT_FORMATS)[number];

/** How the CI-facing files are written (`run --kcidb-origin/--format`, carried in RunOptions). */
export interface CiOutputOptions {
  kcidbOrigin: string;
  format: ResultFormat;
}

export const DEFAULT_CI_OUTPUT: Readonly<CiOutputOptions> = { kcidbOrigin: 'omayexec', format: 'ktap' };

export function newRunId(): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}-${process.pid}`;
}

export function runDir(runId: string): string {
  const dir = join(resultsRoot(), runId);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * A new run folder, created exclusively: two runs never share one. Pids
 * repeat across pid namespaces (containers sharing a results volume), so a
 * taken name gets a random suffix instead of being reused.
 */
export function createRunDir(): { runId: string; dir: string } {
  const root = resultsRoot();
  try {
    mkdirSync(root, { recursive: true });
    accessSync(root, constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new BadInputError(`results folder ${root} is not writable (${code === 'EEXIST' ? 'ENOTDIR' : code}): set OMAYEXEC_RESULTS to a writable folder`);
  }
  const base = newRunId();
  for (let attempt = 0; attempt < 20; attempt++) {
    const runId = attempt === 0 ? base : `${base}-${randomBytes(3).toString('hex')}`;
    const dir = join(root, runId);
    try {
      mkdirSync(dir); // EEXIST when another run took the name
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') continue;
      if (code === 'EROFS' || code === 'EACCES' || code === 'ENOTDIR') throw new BadInputError(`results folder ${root} is not writable (${code}): set OMAYEXEC_RESULTS to a writable folder`);
      throw e;
    }
    // Until finishRun replaces it: a run killed before its end leaves a folder that says so.
    writeFileSync(join(dir, 'results.json'), JSON.stringify({ runId, verdict: 'error', exitCode: EXIT_CODES.error, why: 'the run did not finish (still running, or killed before writing its verdict)' }, null, 2) + '\n');
    return { runId, dir };
  }
  throw new Error(`could not create a new run folder under ${root}`);
}

/** The files of a run folder besides results.raw and console.log, in the order they are written: each one writer's output. */
export function runFolderFiles(record: RunRecord, artifacts: RunArtifacts, ci: CiOutputOptions = DEFAULT_CI_OUTPUT): [name: string, text: string][] {
  return [
    ['results.json', JSON.stringify(record, null, 2) + '\n'],
    ['results.ktap', ci.format === 'tap14' ? toTap14(record, artifacts) : toKtap(record, artifacts)],
    ['junit.xml', toJunit(record)],
    ['report.html', toHtml(record, artifacts)],
    ['kcidb.json', kcidbJson(record, artifacts, ci.kcidbOrigin)],
  ];
}

/** Writes the run folder's reports, then points results/latest at it. */
export function writeRunFolder(dir: string, record: RunRecord, artifacts: RunArtifacts, ci: CiOutputOptions = DEFAULT_CI_OUTPUT): void {
  for (const [name, text] of runFolderFiles(record, artifacts, ci)) writeFileSync(join(dir, name), text);
  const latest = join(resultsRoot(), 'latest');
  rmSync(latest, { force: true });
  symlinkSync(record.runId, latest);
}
