// The work tree of a series: a copy of the pristine tree, switched between
// patch sets in place, file by file. Only the files whose content changes
// are rewritten, so make recompiles only what the patches really change.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, normalize } from 'node:path';
import { BadInputError, HarnessError } from '../errors.js';
import { commandFailed, runToEnd } from '../process-lines.js';
import { readIfExists, sha256, writeFileAtomic, writeJsonAtomic } from './files.js';

/**
 * Files a unified diff touches (paths after stripping one leading component,
 * as patch -p1 does). Hunk bodies are skipped by counting their lines, so a
 * removed line that starts with "-- " is never taken for a header.
 */
export function touchedFiles(patchText: string): string[] {
  const files = new Set<string>();
  const lines = patchText.split('\n');
  let oldLeft = 0;
  let newLeft = 0;
  let pendingOld: string | null = null;
  const strip = (p: string): string | null => {
    const path = p.split('\t')[0]!.trim();
    if (path === '/dev/null') return null;
    const slash = path.indexOf('/');
    const rel = slash >= 0 ? path.slice(slash + 1) : path;
    const n = normalize(rel);
    if (!n || isAbsolute(n) || n.startsWith('..')) throw new BadInputError(`patch names an unsafe path: ${path}`);
    return n;
  };
  for (const line of lines) {
    if (oldLeft > 0 || newLeft > 0) {
      if (line.startsWith('\\')) continue; // "\ No newline at end of file"
      const c = line[0];
      if (c === '-') oldLeft--;
      else if (c === '+') newLeft--;
      else {
        oldLeft--;
        newLeft--;
      }
      continue;
    }
    if (line.startsWith('--- ')) {
      pendingOld = line.slice(4);
      continue;
    }
    if (line.startsWith('+++ ') && pendingOld !== null) {
      const o = strip(pendingOld);
      const n = strip(line.slice(4));
      if (o) files.add(o);
      if (n) files.add(n);
      pendingOld = null;
      continue;
    }
    const h = /^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@/.exec(line);
    if (h) {
      oldLeft = h[1] === undefined ? 1 : Number(h[1]);
      newLeft = h[2] === undefined ? 1 : Number(h[2]);
      continue;
    }
    pendingOld = null;
  }
  return [...files].sort();
}

interface WorkState {
  pristine: string;
  sourceVersion: string;
  /** Files the applied patches touched (restored from pristine before another set is applied). */
  touched: string[];
  /** Applied patches (basename + sha256); null while a switch is in progress. */
  applied: { name: string; sha256: string }[] | null;
}

function readState(path: string): WorkState | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as WorkState;
  } catch {
    return null;
  }
}

/** The line of patch's output that says why it failed (a failed hunk names its file). */
function whyPatchFailed(output: string[]): string {
  let file = '';
  for (const l of output) {
    const patching = /^patching file (.+)$/.exec(l);
    if (patching) file = patching[1]!;
    else if (/FAILED at/.test(l)) return file ? `${file}: ${l}` : l;
    else if (/can't find file|garbage|malformed|Reversed/.test(l)) return l.replace(/^patch: \*+ /, '');
  }
  return output.filter((l) => l.trim()).pop()?.trim() ?? 'no output';
}

/** Apply `patches` in order to the copies in `scratch`, as patch -p1 with no fuzz; the first that fails is a harness error. */
async function applyPatches(scratch: string, patches: string[], log: (line: string) => void): Promise<void> {
  for (const p of patches) {
    const r = await runToEnd('patch', ['-p1', '--batch', '--forward', '--fuzz=0', '--no-backup-if-mismatch', '-r', '-', '-d', scratch, '-i', p]);
    if (r.code === 0) continue;
    for (const l of r.tail.slice(-15)) log(`[patches] | ${l}`);
    throw new HarnessError(`patch ${p} does not apply (patch -p1 --fuzz=0, exit ${r.code}): ${whyPatchFailed(r.tail)}`);
  }
}

export interface SyncResult {
  /** Files whose content was rewritten (or removed) in the work tree. */
  changed: string[];
  /** Files the requested patches touch. */
  touched: string[];
}

/**
 * Make `work` equal to `pristine` plus `patchFiles` (applied in order with
 * patch -p1, no fuzz), rewriting only the files whose content changes. The
 * patches are applied to copies of the touched files in a scratch directory;
 * every file touched by the previous or the new patch set is then compared
 * with its desired content and rewritten only if it differs, so the mtimes
 * of unchanged files are kept and make recompiles only what changed. A patch
 * that does not apply leaves the work tree as it was.
 */
export async function syncWorkTree(
  pristine: string,
  work: string,
  statePath: string,
  patchFiles: string[],
  log: (line: string) => void = () => {},
  scratchParent?: string,
): Promise<SyncResult> {
  const prev = readState(statePath);
  const prevTouched = prev?.touched ?? [];
  const texts = patchFiles.map((p) => readFileSync(p, 'utf8'));
  const newTouched = [...new Set(texts.flatMap((t) => touchedFiles(t)))].sort();

  if (scratchParent) mkdirSync(scratchParent, { recursive: true });
  const scratch = mkdtempSync(join(scratchParent ?? dirname(work), '.patch-scratch-'));
  try {
    for (const f of newTouched) {
      const src = join(pristine, f);
      if (existsSync(src)) {
        mkdirSync(dirname(join(scratch, f)), { recursive: true });
        copyFileSync(src, join(scratch, f));
      }
    }
    await applyPatches(scratch, patchFiles, log);

    const all = [...new Set([...prevTouched, ...newTouched])].sort();
    // Record the union first: if we are interrupted, the next run restores all of them.
    writeJsonAtomic(statePath, { pristine, sourceVersion: prev?.sourceVersion ?? '', touched: all, applied: null } satisfies WorkState);
    const changed: string[] = [];
    const newSet = new Set(newTouched);
    for (const f of all) {
      const fromScratch = newSet.has(f);
      const srcPath = join(fromScratch ? scratch : pristine, f);
      const desired = readIfExists(srcPath);
      const dst = join(work, f);
      const current = readIfExists(dst);
      if (desired === null) {
        if (current !== null) {
          unlinkSync(dst);
          changed.push(f);
        }
        continue;
      }
      if (current !== null && current.equals(desired)) continue;
      const pristineStat = existsSync(join(pristine, f)) ? statSync(join(pristine, f)) : null;
      writeFileAtomic(dst, desired, pristineStat?.mode ?? statSync(srcPath).mode);
      changed.push(f);
    }
    writeJsonAtomic(statePath, {
      pristine,
      sourceVersion: prev?.sourceVersion ?? '',
      touched: newTouched,
      applied: patchFiles.map((p, i) => ({ name: basename(p), sha256: sha256(texts[i]!) })),
    } satisfies WorkState);
    log(
      `[patches] ${patchFiles.length} patch(es) touching ${newTouched.length} file(s); ` +
        `${changed.length} file(s) rewritten${changed.length ? ': ' + changed.slice(0, 8).join(' ') + (changed.length > 8 ? ' ...' : '') : ''}`,
    );
    return { changed, touched: newTouched };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** A work tree copied from `pristine` (cp -a, reflinks where the filesystem has them), unless it already is one of that source. */
export async function ensureWorkTree(
  pristine: string,
  work: string,
  statePath: string,
  sourceVersion: string,
  log: (l: string) => void,
  logLine: (l: string) => void,
): Promise<void> {
  const st = readState(statePath);
  if (existsSync(join(work, 'Makefile')) && st && st.pristine === pristine && st.sourceVersion === sourceVersion) return;
  if (existsSync(work)) {
    log(`[work] ${work} belongs to another source (${st?.sourceVersion ?? 'unknown'}); recreating it`);
    rmSync(work, { recursive: true, force: true });
  }
  log(`[work] copying the pristine tree to ${work} (1.5 GB, ~20 s)`);
  mkdirSync(dirname(work), { recursive: true });
  const tmp = `${work}.copying`;
  rmSync(tmp, { recursive: true, force: true });
  const r = await runToEnd('cp', ['-a', '--reflink=auto', pristine, tmp], {
    onLine: logLine,
    heartbeat: (s) => log(`[work] still copying (${s} s)`),
  });
  if (r.code !== 0) throw commandFailed(`cp -a ${pristine} ${tmp}`, r, (l) => log(`[work] ${l}`), 10);
  renameSync(tmp, work);
  writeJsonAtomic(statePath, { pristine, sourceVersion, touched: [], applied: [] } satisfies WorkState);
}
