// Kernel config pre-check, before any boot (the way kunit.py names what is
// missing): options the guest cannot boot or run the executor without are fatal;
// options single suites need are reported with the suites they affect (those
// suites SKIP with the reason at run time).
import { BadInputError } from './errors.js';
import type { KconfigNeed } from '../harness/suite.js';
import { kconfigValues } from './kconfig.js';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';

export interface ConfigNeed {
  option: string;
  /** boot: no verdict is possible without it; otherwise the suites it affects. */
  affects: 'boot' | string[];
  why: string;
  /** A module is enough (the guest can load it when it is shipped). */
  moduleOk?: boolean;
}

/** What the guest itself needs; the suites declare their own options in their specs (SuiteNeeds.kconfig). */
export const BOOT_NEEDS: ConfigNeed[] = [
  { option: 'BLK_DEV_INITRD', affects: 'boot', why: 'the guest root is an initramfs' },
  { option: 'SERIAL_8250_CONSOLE', affects: 'boot', why: 'the console is ttyS0; the executor channel falls back to ttyS1 without virtio-serial' },
  { option: 'BINFMT_ELF', affects: 'boot', why: '/init, the executor and the helpers are one static ELF program' },
  { option: 'DEVTMPFS', affects: 'boot', why: '/init mounts devtmpfs on /dev' },
  { option: 'TMPFS', affects: 'boot', why: '/tmp and every work mount are tmpfs' },
  { option: 'PROC_FS', affects: 'boot', why: '/init mounts /proc; the suites read /proc/self/fd and /proc/sys' },
  { option: 'SYSFS', affects: 'boot', why: '/init mounts sysfs; the executor finds its virtio-serial port there' },
  { option: 'MULTIUSER', affects: 'boot', why: 'capabilities and uids (the suites drop capabilities)' },
];

/** The options the given suites declared, one entry per option with every suite that needs it. */
export function suiteConfigNeeds(suites: readonly { id: string; kconfig?: KconfigNeed[] }[]): ConfigNeed[] {
  const byOption = new Map<string, ConfigNeed & { affects: string[] }>();
  for (const s of suites) {
    for (const k of s.kconfig ?? []) {
      const n = byOption.get(k.option);
      if (!n) byOption.set(k.option, { option: k.option, affects: [s.id], why: k.why, moduleOk: k.moduleOk });
      else {
        n.affects.push(s.id);
        if (!n.why.includes(k.why)) n.why += `; ${k.why}`;
        // A module is enough only when it is for every suite that asks.
        n.moduleOk = n.moduleOk === true && k.moduleOk === true;
      }
    }
  }
  return [...byOption.values()];
}

export interface ConfigReport {
  source: string;
  fatal: ConfigNeed[];
  suiteLevel: ConfigNeed[];
}

/** Boot needs are fatal; the options the given suites declared are reported with the suites they affect. */
export function checkConfig(text: string, source: string, suites: readonly { id: string; kconfig?: KconfigNeed[] }[] = []): ConfigReport {
  return checkConfigValues(kconfigValues(text), source, suites);
}

/** checkConfig on a config already parsed (a run checks the boot needs, then the suites' while the guest boots). */
export function checkConfigValues(cfg: ReadonlyMap<string, string | null>, source: string, suites: readonly { id: string; kconfig?: KconfigNeed[] }[] = []): ConfigReport {
  const fatal: ConfigNeed[] = [];
  const suiteLevel: ConfigNeed[] = [];
  for (const need of [...BOOT_NEEDS, ...suiteConfigNeeds(suites)]) {
    const v = cfg.get(need.option);
    const ok = v === 'y' || (v === 'm' && need.moduleOk);
    if (ok) continue;
    (need.affects === 'boot' ? fatal : suiteLevel).push(need);
  }
  return { source, fatal, suiteLevel };
}

/** The config embedded with CONFIG_IKCONFIG: gzip data between IKCFG_ST and IKCFG_ED. */
export function extractIkconfig(vmlinux: Buffer): string | null {
  const start = vmlinux.indexOf('IKCFG_ST');
  if (start < 0) return null;
  const end = vmlinux.indexOf('IKCFG_ED', start);
  if (end < 0) return null;
  try {
    return gunzipSync(vmlinux.subarray(start + 8, end)).toString('utf8');
  } catch {
    return null;
  }
}

/** A bzImage's payload is compressed; look inside each gzip member for IKCONFIG. */
export function ikconfigFromImage(image: Buffer): string | null {
  const direct = extractIkconfig(image);
  if (direct) return direct;
  for (let at = image.indexOf(Buffer.from([0x1f, 0x8b, 0x08])); at >= 0; at = image.indexOf(Buffer.from([0x1f, 0x8b, 0x08]), at + 1)) {
    try {
      const inner = gunzipSync(image.subarray(at), { finishFlush: 2 /* Z_SYNC_FLUSH: tolerate trailing data */ });
      const found = extractIkconfig(inner);
      if (found) return found;
    } catch {
      // not a gzip member after all
    }
  }
  return null;
}

/**
 * Where the config of a kernel image is: --config, a Debian-style
 * config-<release> or a .config beside the image, or IKCONFIG inside it.
 */
/** A kernel's config text and where it was found. */
export interface FoundConfig {
  text: string;
  source: string;
}

export function findKernelConfig(image: string, explicit?: string): FoundConfig | null {
  if (explicit) {
    if (!existsSync(explicit) || !statSync(explicit).isFile()) throw new BadInputError(`--config ${explicit}: ${existsSync(explicit) ? 'not a file' : 'no such file'}`);
    return { text: readFileSync(explicit, 'utf8'), source: explicit };
  }
  const dir = dirname(image);
  const name = basename(image);
  const candidates = [join(dir, '.config'), join(dir, 'config')];
  const m = /^(?:vmlinuz|bzImage|vmlinux)-(.+)$/.exec(name);
  if (m) candidates.unshift(join(dir, `config-${m[1]}`));
  for (const c of candidates) if (existsSync(c)) return { text: readFileSync(c, 'utf8'), source: c };
  const embedded = ikconfigFromImage(readFileSync(image));
  return embedded ? { text: embedded, source: `${image} (IKCONFIG)` } : null;
}
