// Kernel config pre-check, before any boot (the way kunit.py names what is
// missing): options the guest cannot boot or run node without are fatal;
// options single suites need are reported with the suites they affect (those
// suites SKIP with the reason at run time).
import { BadInputError } from './errors.js';
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

export const CONFIG_NEEDS: ConfigNeed[] = [
  { option: 'BLK_DEV_INITRD', affects: 'boot', why: 'the guest root is an initramfs' },
  { option: 'SERIAL_8250_CONSOLE', affects: 'boot', why: 'console and results travel over 8250 serial ports' },
  { option: 'BINFMT_ELF', affects: 'boot', why: 'node and busybox are ELF programs' },
  { option: 'BINFMT_SCRIPT', affects: 'boot', why: '/init is a shell script; the exec suites run scripts' },
  { option: 'DEVTMPFS', affects: 'boot', why: '/init mounts devtmpfs on /dev' },
  { option: 'TMPFS', affects: 'boot', why: '/tmp and every work mount are tmpfs' },
  { option: 'PROC_FS', affects: 'boot', why: 'node and the suites read /proc' },
  { option: 'SYSFS', affects: 'boot', why: '/init mounts sysfs' },
  { option: 'FUTEX', affects: 'boot', why: 'node needs futexes' },
  { option: 'EPOLL', affects: 'boot', why: "node's event loop uses epoll" },
  { option: 'EVENTFD', affects: 'boot', why: "node's event loop uses eventfd" },
  { option: 'UNIX', affects: 'boot', why: 'node talks to its child processes over AF_UNIX socket pairs' },
  { option: 'MULTIUSER', affects: 'boot', why: 'capabilities and uids (the suites drop capabilities)' },
  { option: 'PROC_SYSCTL', affects: ['omayexec-policy', 'omayexec-sysctl', 'omayexec-extra'], why: 'fs.open_mayexec_enforce lives in /proc/sys' },
  { option: 'BLK_DEV_LOOP', affects: ['omayexec-policy'], why: 'block device 7:0 rows need the loop driver', moduleOk: true },
  { option: 'IA32_EMULATION', affects: ['uselib'], why: 'uselib is only reachable through the i386 entry' },
  { option: 'USELIB', affects: ['uselib'], why: 'the uselib(2) syscall itself' },
  { option: 'IMA', affects: ['ima'], why: 'the MAY_OPENEXEC policy mask is an IMA feature' },
  { option: 'SECURITYFS', affects: ['ima'], why: 'the IMA policy is written through securityfs' },
  { option: 'MEMFD_CREATE', affects: ['execve-check'], why: 'memfd rows of the access matrix' },
];

export interface ConfigReport {
  source: string;
  fatal: ConfigNeed[];
  suiteLevel: ConfigNeed[];
}

export function checkConfig(text: string, source: string): ConfigReport {
  const cfg = kconfigValues(text);
  const fatal: ConfigNeed[] = [];
  const suiteLevel: ConfigNeed[] = [];
  for (const need of CONFIG_NEEDS) {
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
export function findKernelConfig(image: string, explicit?: string): { text: string; source: string } | null {
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
