// Debian's pristine kernel tree for a series: linux-source-<series>
// installed with apt-get when missing, its tarball unpacked once into the
// cache (src/linux-source-<series>, see recipe.ts), a tree unpacked by
// someone else adopted when its version matches.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HarnessError } from '../errors.js';
import { commandFailed, runToEnd } from '../process-lines.js';
import type { Series } from './recipe.js';

/** The installed version of a Debian package, read from dpkg's status file (dpkg-query costs ~10 ms a spawn). */
export function dpkgVersion(pkg: string, statusFile = '/var/lib/dpkg/status'): string | null {
  let status: string;
  try {
    status = readFileSync(statusFile, 'utf8');
  } catch {
    return null;
  }
  const at = status.startsWith(`Package: ${pkg}\n`) ? 0 : status.indexOf(`\nPackage: ${pkg}\n`);
  if (at < 0) return null;
  const end = status.indexOf('\n\n', at + 1);
  const stanza = status.slice(at, end < 0 ? undefined : end);
  const field = (name: string) => new RegExp(`^${name}: (.*)$`, 'm').exec(stanza)?.[1]?.trim() ?? null;
  return field('Status')?.endsWith(' installed') ? field('Version') : null;
}

/** VERSION.PATCHLEVEL.SUBLEVEL+EXTRAVERSION from a tree's top Makefile. */
function makefileVersion(dir: string): string | null {
  try {
    const mk = readFileSync(join(dir, 'Makefile'), 'utf8');
    const get = (k: string) => new RegExp(`^${k}[ \\t]*=[ \\t]*(\\S*)[ \\t]*$`, 'm').exec(mk)?.[1] ?? '';
    const v = get('VERSION');
    if (!v) return null;
    return `${v}.${get('PATCHLEVEL')}.${get('SUBLEVEL')}${get('EXTRAVERSION')}`;
  } catch {
    return null;
  }
}

export async function ensureDebianSource(
  series: Series,
  cache: string,
  log: (l: string) => void,
  logLine: (l: string) => void,
): Promise<{ pristine: string; version: string }> {
  const pkg = `linux-source-${series}`;
  const tarball = `/usr/src/${pkg}.tar.xz`;
  let version = dpkgVersion(pkg);
  const pristine = join(cache, 'src', pkg);
  const marker = `${pristine}.unpacked`;
  const upstream = (v: string) => v.split('-')[0]!.split('+')[0]!;

  const treeOk = (): boolean => {
    if (!version || !existsSync(join(pristine, 'Makefile'))) return false;
    if (existsSync(marker)) return readFileSync(marker, 'utf8').trim() === version;
    // A tree unpacked by someone else (setup step): adopt it if its Makefile
    // has the package's upstream version.
    if (makefileVersion(pristine) === upstream(version)) {
      writeFileSync(marker, `${version}\n`);
      log(`[source] adopting the existing pristine tree ${pristine} (${version})`);
      return true;
    }
    return false;
  };
  if (treeOk()) return { pristine, version: version! };

  if (!version || !existsSync(tarball)) {
    log(`[source] ${tarball} is missing: running apt-get install -y ${pkg} (about 130 MiB download)`);
    const r = await runToEnd('apt-get', ['install', '-y', '--no-install-recommends', ...(version ? ['--reinstall'] : []), pkg], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      onLine: (l) => {
        logLine(l);
        if (/^(Get:|Unpacking|Setting up|E:)/.test(l)) log(`[source] apt: ${l}`);
      },
      heartbeat: (s) => log(`[source] apt-get still running (${s} s)`),
    });
    if (r.code !== 0) throw commandFailed(`apt-get install ${pkg}`, r, (l) => log(`[source] ${l}`));
    version = dpkgVersion(pkg);
    if (!version || !existsSync(tarball)) throw new HarnessError(`apt-get installed ${pkg} but ${tarball} is still missing`);
  }

  log(`[source] unpacking ${tarball} into ${pristine} (1.5 GB, ~30 s)`);
  mkdirSync(join(cache, 'src'), { recursive: true });
  const tmp = mkdtempSync(join(cache, 'src', `.unpack-${series}-`));
  try {
    const r = await runToEnd('tar', ['-xf', tarball, '-C', tmp], {
      onLine: logLine,
      heartbeat: (s) => log(`[source] still unpacking (${s} s)`),
    });
    if (r.code !== 0) throw commandFailed(`tar -xf ${tarball}`, r, (l) => log(`[source] ${l}`), 10);
    const top = readdirSync(tmp);
    const inner = join(tmp, top[0] ?? '');
    if (top.length !== 1 || !existsSync(join(inner, 'Makefile'))) {
      throw new HarnessError(`${tarball} does not hold one top-level kernel tree (found: ${top.join(' ')})`);
    }
    // Swap the trees with renames (no window without a tree), then delete the old one.
    rmSync(marker, { force: true });
    const old = join(tmp, '.old-tree');
    if (existsSync(pristine)) renameSync(pristine, old);
    renameSync(inner, pristine);
    writeFileSync(marker, `${version}\n`);
  } finally {
    if (existsSync(join(tmp, '.old-tree'))) log('[source] removing the previous tree (~20 s)');
    rmSync(tmp, { recursive: true, force: true });
  }
  return { pristine, version };
}
