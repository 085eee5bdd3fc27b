// ABI profile probes (SPEC.md §1). Each probe asks the kernel under test
// directly, through the Target, and keeps the evidence, so a SKIP says
// exactly what the kernel answered.
import { AT, O } from './abi.js';
import { calls } from './calls.js';
import type { Target } from './target.js';
import { IMA_DIR, IMA_POLICY } from '../fixtures/ima.js';

export const PROFILE_NAMES = ['omayexec-v7', 'exec-cleanups', 'execve-check', 'omayexec-ima'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

export interface ProbeResult {
  name: ProfileName;
  supported: boolean;
  evidence: string;
}

/**
 * What --expect decides for a suite, in one place: run it (no profile, or
 * the profile is supported), skip it with the probe's evidence, or fail it
 * (the profile is required and absent).
 */
export type ProfileDecision = { run: true } | { run: false; fail: boolean; evidence: string };

export function decideProfile(profile: ProfileName | undefined, probes: readonly ProbeResult[], required: readonly string[]): ProfileDecision {
  if (!profile) return { run: true };
  const probe = probes.find((p) => p.name === profile);
  if (!probe) throw new Error(`profile ${profile} was not probed`);
  if (probe.supported) return { run: true };
  return { run: false, fail: required.includes(profile), evidence: probe.evidence };
}

/** A file every target has on an exec mount, mode 0755: a static helper. */
function probeFile(target: Target): string {
  return target.helperPath('exec-probe');
}

async function probeOmayexec(target: Target): Promise<ProbeResult> {
  const path = probeFile(target);
  const r = await target.run(calls.openat2(AT.FDCWD, path, { flags: O.RDONLY | O.CLOEXEC | O.MAYEXEC }, true));
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

async function probeExecCleanups(target: Target): Promise<ProbeResult> {
  const { release } = await target.identity();
  const [major, minor] = releaseVersion(release);
  const supported = major > 5 || (major === 5 && minor >= 9);
  return { name: 'exec-cleanups', supported, evidence: `kernel release ${release} ${supported ? '>=' : '<'} 5.9` };
}

async function probeExecveCheck(target: Target): Promise<ProbeResult> {
  const path = probeFile(target);
  const r = await target.run(calls.execveat(AT.FDCWD, path, [path], [], AT.EXECVE_CHECK));
  const shown = `execveat(${path}, AT_EXECVE_CHECK=0x10000)`;
  if (r.ok) return { name: 'execve-check', supported: true, evidence: `${shown} -> 0` };
  const note = r.errno === 'EINVAL' ? ': kernel lacks AT_EXECVE_CHECK' : '';
  return { name: 'execve-check', supported: r.errno !== 'EINVAL', evidence: `${shown} -> ${r.errno}${note}` };
}

/**
 * IMA's MAY_OPENEXEC mask (SPEC.md §3): the probe is loading the suite's
 * policy (one write; the policy may be writable once per boot, and what is
 * loaded stays until reboot). So it is done only on a fresh VM boot, never
 * on a machine's own kernel. Only EINVAL means the kernel lacks the mask.
 */
async function probeIma(target: Target, o: ProbeOptions): Promise<ProbeResult> {
  const name = 'omayexec-ima';
  if (!o.freshBoot) return { name, supported: false, evidence: 'not probed: loading an IMA policy lasts until reboot, so it is done only on a fresh VM boot' };
  const policy = `${IMA_DIR}/policy`;
  // One write() per rule: IMA takes one line per write and returns its length.
  const lines = IMA_POLICY.map((l) => `${l}\n`);
  const rs = await target.runAll([calls.open(policy, O.WRONLY | O.CLOEXEC), ...lines.map((l) => calls.write({ result: 0 }, l)), calls.close({ result: 0 })]);
  const shown = `writing "${IMA_POLICY.join('; ')}" to ${policy}`;
  if (!rs[0]!.ok) return { name, supported: false, evidence: `open ${policy} -> ${rs[0]!.errno}: needs CONFIG_IMA, CONFIG_SECURITYFS and a writable policy` };
  const bad = lines.findIndex((l, i) => rs[i + 1]!.ret !== Buffer.byteLength(l));
  if (bad < 0) return { name, supported: true, evidence: `${shown} -> ok` };
  const w = rs[bad + 1]!;
  const what = w.ok ? `short write (${w.ret} of ${Buffer.byteLength(lines[bad]!)} bytes)` : w.errno;
  const note = w.errno === 'EINVAL' ? ': kernel lacks the MAY_OPENEXEC mask' : '';
  return { name, supported: false, evidence: `${shown} -> rule ${bad + 1}: ${what}${note}` };
}

export interface ProbeOptions {
  /** A VM boot of its own: probes with lasting effects (IMA) may run. */
  freshBoot: boolean;
}

const probes: Record<ProfileName, (t: Target, o: ProbeOptions) => Promise<ProbeResult>> = {
  'omayexec-v7': probeOmayexec,
  'exec-cleanups': probeExecCleanups,
  'execve-check': probeExecveCheck,
  'omayexec-ima': probeIma,
};

export function probe(target: Target, name: ProfileName, o: ProbeOptions): Promise<ProbeResult> {
  return probes[name](target, o);
}

export async function probeAll(target: Target, o: ProbeOptions): Promise<ProbeResult[]> {
  const out: ProbeResult[] = [];
  for (const name of PROFILE_NAMES) out.push(await probe(target, name, o));
  return out;
}

export function isProfileName(s: string): s is ProfileName {
  return (PROFILE_NAMES as readonly string[]).includes(s);
}
