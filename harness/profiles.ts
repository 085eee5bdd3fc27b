// ABI profile probes (SPEC.md §1). Each probe asks the kernel directly and
// keeps the evidence, so a SKIP says exactly what the kernel answered.
import { release } from 'node:os';
import * as sys from './sys.js';

export const PROFILE_NAMES = ['omayexec-v7', 'exec-cleanups', 'execve-check'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

export interface ProbeResult {
  name: ProfileName;
  supported: boolean;
  evidence: string;
}

/** A file every run has: the node binary itself, on an exec mount, mode 0755. */
function probeTarget(): string {
  return process.execPath;
}

function probeOmayexec(): ProbeResult {
  const path = probeTarget();
  const r = sys.openat2(sys.AT.FDCWD, path, { flags: sys.O.RDONLY | sys.O.CLOEXEC | sys.O.MAYEXEC });
  if (r.ok) sys.close(r.ret);
  const shown = `openat2(${path}, O_RDONLY|O_CLOEXEC|O_MAYEXEC=040000000)`;
  if (r.ok) return { name: 'omayexec-v7', supported: true, evidence: `${shown} -> fd` };
  const supported = r.errno !== 'EINVAL';
  const note = supported ? '' : ': kernel lacks O_MAYEXEC';
  return { name: 'omayexec-v7', supported, evidence: `${shown} -> ${r.errno}${note}` };
}

/** Kernel release "6.1.0-26-cloud-amd64" -> [6, 1]. */
export function releaseVersion(rel: string): [number, number] {
  const m = /^(\d+)\.(\d+)/.exec(rel);
  return m ? [Number(m[1]), Number(m[2])] : [0, 0];
}

function probeExecCleanups(): ProbeResult {
  const rel = release();
  const [major, minor] = releaseVersion(rel);
  const supported = major > 5 || (major === 5 && minor >= 9);
  return { name: 'exec-cleanups', supported, evidence: `kernel release ${rel} ${supported ? '>=' : '<'} 5.9` };
}

function probeExecveCheck(): ProbeResult {
  const path = probeTarget();
  const r = sys.execveat(sys.AT.FDCWD, path, [path], [], sys.AT.EXECVE_CHECK);
  const shown = `execveat(${path}, AT_EXECVE_CHECK=0x10000)`;
  if (r.ok) return { name: 'execve-check', supported: true, evidence: `${shown} -> 0` };
  const note = r.errno === 'EINVAL' ? ': kernel lacks AT_EXECVE_CHECK' : '';
  return { name: 'execve-check', supported: r.errno !== 'EINVAL', evidence: `${shown} -> ${r.errno}${note}` };
}

const probes: Record<ProfileName, () => ProbeResult> = {
  'omayexec-v7': probeOmayexec,
  'exec-cleanups': probeExecCleanups,
  'execve-check': probeExecveCheck,
};

export function probe(name: ProfileName): ProbeResult {
  return probes[name]();
}

export function probeAll(): ProbeResult[] {
  return PROFILE_NAMES.map(probe);
}

export function isProfileName(s: string): s is ProfileName {
  return (PROFILE_NAMES as readonly string[]).includes(s);
}
