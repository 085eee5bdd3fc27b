// Debian's stock cloud kernels, fetched with apt-get download and unpacked
// with dpkg -x into the cache (never installed into /boot).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HarnessError } from './errors.js';
import { sha256OfFile } from './file-hash.js';
import { cacheRoot } from './paths.js';

export const DEBIAN_SERIES = ['6.1', '6.12'] as const;
export type DebianSeries = (typeof DEBIAN_SERIES)[number];

/** The meta-package whose dependency names the current image package. */
const META: Record<DebianSeries, string> = {
  '6.1': 'linux-image-cloud-amd64',
  '6.12': 'linux-image-6.12-cloud-amd64',
};

export interface DebianKernel {
  package: string;
  version: string;
  image: string;
  config: string;
  /** Modules the guest's /init loads: virtio-serial, the executor's channel (modules in Debian's builds). */
  modules: string[];
  /** Modules a suite loads when it runs (SuiteNeeds.modules): the loop driver. */
  onDemandModules: string[];
  release: string;
}

function aptCache(args: string[]): string {
  const r = spawnSync('apt-cache', args, { encoding: 'utf8' });
  if (r.error) throw new HarnessError(`apt-cache not available (${r.error.message}): --debian needs a Debian/Ubuntu host`);
  return r.stdout;
}

/** linux-image-cloud-amd64 -> linux-image-6.1.0-56-cloud-amd64-unsigned. */
export function resolveImagePackage(series: DebianSeries): string {
  const deps = aptCache(['depends', META[series]]);
  const m = /Depends:\s+(linux-image-\S+-cloud-amd64)\b/.exec(deps);
  if (!m?.[1]) {
    throw new HarnessError(`apt-cache knows no ${META[series]}: run apt-get update (Debian 12 bookworm sources needed)`);
  }
  return `${m[1]}-unsigned`;
}

function candidateVersion(pkg: string): string {
  const m = /Candidate:\s+(\S+)/.exec(aptCache(['policy', pkg]));
  if (!m?.[1] || m[1] === '(none)') throw new HarnessError(`no candidate version for ${pkg}: run apt-get update`);
  return m[1];
}

/**
 * Modules /init loads, in dependency order (the .deb ships no modules.dep;
 * order from `modinfo -F depends`): virtio-serial for the executor's channel.
 */
const BOOT_MODULES = [
  'drivers/virtio/virtio_ring.ko',
  'drivers/virtio/virtio.ko',
  'drivers/virtio/virtio_pci_legacy_dev.ko',
  'drivers/virtio/virtio_pci_modern_dev.ko',
  'drivers/virtio/virtio_pci.ko',
  'drivers/char/virtio_console.ko',
];

/** Modules loaded only for the suites that need them: the loop driver for the policy suite's block-device rows. */
const ON_DEMAND_MODULES = ['drivers/block/loop.ko'];

function describe(dir: string, pkg: string, version: string): DebianKernel {
  const boot = join(dir, 'boot');
  const vmlinuz = readdirSync(boot).find((f) => f.startsWith('vmlinuz-'));
  if (!vmlinuz) throw new HarnessError(`${pkg} has no /boot/vmlinuz-*`);
  const release = vmlinuz.slice('vmlinuz-'.length);
  const moduleDir = join(dir, 'lib/modules', release, 'kernel');
  return {
    package: pkg,
    version,
    image: join(boot, vmlinuz),
    config: join(boot, `config-${release}`),
    modules: BOOT_MODULES.map((m) => join(moduleDir, m)).filter((m) => existsSync(m)),
    onDemandModules: ON_DEMAND_MODULES.map((m) => join(moduleDir, m)).filter((m) => existsSync(m)),
    release,
  };
}

/**
 * Package and version for a series, resolved with apt-cache (~1-2 s) only
 * when apt's package cache changed since the last resolution.
 */
function resolveCached(series: DebianSeries): { pkg: string; version: string } {
  // apt's binary cache when it keeps one; else the package lists folder,
  // whose mtime changes whenever apt-get update replaces a list (containers
  // often run apt without pkgcache.bin: resolving each time cost ~2.7 s).
  const stamp = (() => {
    for (const f of ['/var/cache/apt/pkgcache.bin', '/var/lib/apt/lists']) {
      try {
        return `${f}:${statSync(f).mtimeMs}`;
      } catch {
        // next candidate
      }
    }
    return 'none';
  })();
  const file = join(cacheRoot(), 'debian', `resolved-${series}.json`);
  try {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { stamp: string; pkg: string; version: string };
    if (saved.stamp === stamp && stamp !== 'none') return saved;
  } catch {
    // not resolved yet
  }
  const pkg = resolveImagePackage(series);
  const version = candidateVersion(pkg);
  mkdirSync(join(cacheRoot(), 'debian'), { recursive: true });
  writeFileSync(file, JSON.stringify({ stamp, pkg, version }));
  return { pkg, version };
}

export function fetchDebianKernel(series: DebianSeries, log: (l: string) => void): DebianKernel {
  const { pkg, version } = resolveCached(series);
  const dir = join(cacheRoot(), 'debian', `${pkg}_${version}`);
  if (existsSync(join(dir, 'boot'))) {
    const k = describe(dir, pkg, version);
    if (verifiedImage(dir, k.image)) return k;
    log(`cached ${k.image} does not match the hash recorded when it was unpacked: fetching it again`);
    rmSync(dir, { recursive: true, force: true });
  }
  // Per process: two runs fetching the same kernel at once must not share a download.
  const dl = join(cacheRoot(), 'debian', `download-${process.pid}`);
  rmSync(dl, { recursive: true, force: true });
  mkdirSync(dl, { recursive: true });
  log(`downloading ${pkg} ${version} with apt-get download...`);
  const r = spawnSync('apt-get', ['download', `${pkg}=${version}`], { cwd: dl, stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
  const deb = readdirSync(dl).find((f) => f.endsWith('.deb'));
  if (r.status !== 0 || !deb) {
    rmSync(dl, { recursive: true, force: true });
    throw new HarnessError(`apt-get download ${pkg} failed: ${(r.stderr ?? '').trim().split('\n').pop()}`);
  }
  log(`unpacking ${deb} with dpkg -x...`);
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  execFileSync('dpkg', ['-x', join(dl, deb), tmp]);
  rmSync(dl, { recursive: true, force: true });
  const fresh = describe(tmp, pkg, version);
  recordImageHash(tmp, fresh.image);
  try {
    renameSync(tmp, dir);
  } catch (e) {
    // Another run unpacked the same package meanwhile: keep theirs if it verifies.
    rmSync(tmp, { recursive: true, force: true });
    const theirs = existsSync(join(dir, 'boot')) ? describe(dir, pkg, version) : null;
    if (!theirs || !verifiedImage(dir, theirs.image)) throw e;
    return theirs;
  }
  return describe(dir, pkg, version);
}

const HASH_FILE = '.omx-image.sha256';

function recordImageHash(dir: string, image: string): void {
  writeFileSync(join(dir, HASH_FILE), sha256OfFile(image) + '\n');
}

/**
 * The cached image is what was unpacked (a truncated or damaged copy would
 * fail every boot, blaming the guest). A cache unpacked before hashes were
 * recorded gets its hash recorded now.
 */
function verifiedImage(dir: string, image: string): boolean {
  const file = join(dir, HASH_FILE);
  if (!existsSync(file)) {
    recordImageHash(dir, image);
    return true;
  }
  return readFileSync(file, 'utf8').trim() === sha256OfFile(image);
}
