// Launch one QEMU guest and watch it: console (ttyS0) streamed live to
// console.log and scanned for crashes; the executor's channel offered twice
// (a virtio-serial port and ttyS1, QEMU pipe chardevs on FIFOs in the run
// folder: the guest uses the first it has); boot and whole-run timeouts
// kill the guest.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { offerChannels, type FifoChannel } from './fifo-channel.js';
import { join } from 'node:path';
import { programFact, onPath } from './host-facts.js';
import { cacheRoot } from './paths.js';
import { spawnLines } from './process-lines.js';
import { BadInputError, HarnessError } from './errors.js';
import { scanConsoleLine, isFatal, type ConsoleSign } from '../harness/kernel-signs.js';
import type { KernelArch } from './kernel-image.js';

// A host without the QEMU a kernel needs, or a kernel of an architecture not
// wired up: bad input (exit 2), for the user to fix.
export class QemuMissingError extends BadInputError {}
export class UnsupportedArchError extends BadInputError {}

/**
 * The kernel command line of every guest, the bench's floor included.
 * mitigations=off: the CPU side-channel mitigations (page-table isolation
 * above all) make every kernel entry flush TLBs, which software emulation
 * pays dearly for; no O_MAYEXEC rule depends on them. A user who wants them
 * passes --append mitigations=auto (the later value wins).
 */
export const GUEST_CMDLINE = 'console=ttyS0 panic=-1 quiet mitigations=off';

const QEMU_BINARY: Record<KernelArch, { bin: string; pkg: string }> = {
  x86_64: { bin: 'qemu-system-x86_64', pkg: 'qemu-system-x86' },
  arm64: { bin: 'qemu-system-aarch64', pkg: 'qemu-system-arm' },
};

export function findQemu(arch: KernelArch): string {
  const { bin, pkg } = QEMU_BINARY[arch];
  if (!onPath(bin)) throw new QemuMissingError(`${bin} not found: install it with apt-get install ${pkg}`);
  return bin;
}

function devKvmOpenable(): boolean {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * KVM when it really works. /dev/kvm can exist and still be broken (nested
 * virtualisation seen here: QEMU aborts on an MSR or the guest hangs after
 * "Probing EDD"), so the first run after each host boot boots the kernel
 * without an initrd under KVM: a working KVM panics on the missing root
 * filesystem and exits within seconds. The answer is cached per boot id.
 * OMAYEXEC_ACCEL=kvm|tcg overrides.
 */
export function chooseAccel(kernel: string): 'kvm' | 'tcg' {
  const forced = process.env.OMAYEXEC_ACCEL;
  if (forced === 'kvm' || forced === 'tcg') return forced;
  if (!devKvmOpenable()) return 'tcg';
  let bootId = 'unknown';
  try {
    bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    // keep 'unknown'
  }
  const cacheFile = join(cacheRoot(), `kvm-probe-${bootId}`);
  if (existsSync(cacheFile)) return readFileSync(cacheFile, 'utf8').trim() === 'kvm' ? 'kvm' : 'tcg';
  const r = spawnSync('qemu-system-x86_64', [
    '-machine', 'q35,accel=kvm', '-cpu', 'host', '-m', '256', '-display', 'none', '-monitor', 'none',
    '-nodefaults', '-no-reboot', '-serial', 'stdio', '-kernel', kernel, '-append', 'console=ttyS0 panic=-1 quiet',
  ], { encoding: 'utf8', timeout: 8000 });
  const works = r.status === 0 && /Kernel panic/.test(r.stdout ?? '');
  // No QEMU (or it could not start): no evidence about KVM, nothing cached.
  // A hang (timeout) or an abort is evidence of a broken KVM: cached.
  const noAnswer = (r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
  if (!noAnswer) {
    mkdirSync(cacheRoot(), { recursive: true });
    writeFileSync(cacheFile, works ? 'kvm' : 'tcg');
  }
  return works ? 'kvm' : 'tcg';
}

/** qboot skips SeaBIOS's ~0.3-0.6 s when the QEMU package ships it. */
const QBOOT = '/usr/share/qemu/qboot.rom';

export interface QemuOptions {
  kernel: string;
  initrd: string;
  append: string;
  arch: KernelArch;
  accel: 'kvm' | 'tcg';
  consoleLog: string;
  /** Folder for the channel FIFOs (the run folder). */
  channelDir: string;
  memoryMB?: number;
  bootTimeoutSec: number;
  runTimeoutSec: number;
  /** How many results lines the runner has written so far (places console signs in the stream). */
  resultLineCount: () => number;
  onConsoleLine?: (line: string) => void;
  /** Extra QEMU arguments (tests use them to provoke failures). */
  extraArgs?: string[];
}

export interface QemuOutcome {
  exitCode: number | null;
  signal: string | null;
  killedFor: 'boot-timeout' | 'run-timeout' | 'crash' | 'interrupted' | null;
  signs: (ConsoleSign & { resultLines: number })[];
  accel: 'kvm' | 'tcg';
  /** Milliseconds from QEMU start. */
  timings: {
    /** ms from this process's start to QEMU's spawn: the host's share before the guest. */
    spawnedAt?: number;
    firstConsole?: number;
    initReached?: number;
    exited: number;
    /** guest clock at /init */
    initUptime?: number;
    /** guest clock once /init has loaded the kernel's modules */
    modulesUptime?: number;
  };
  argv: string[];
}

/** Only x86_64 guests are wired up (machine, console, helpers). */
export function assertBootableArch(arch: KernelArch): void {
  if (arch !== 'x86_64') {
    throw new UnsupportedArchError(`${arch} kernels cannot be booted yet: only x86_64 guests are wired up (run the suites on such a machine with \`pack\`)`);
  }
}

/**
 * One vCPU. Two would let the runner and the suite host start in parallel
 * (a Debian 6.1 run measured 15.2-15.7 s against 16.9-17.7 s), but under
 * multi-threaded TCG Debian's 6.12 kernel was seen to oops at boot ("int3"
 * in sched_clock_cpu while text_poke patched code another vCPU ran): a false
 * panic verdict costs more than 1.5 s. OMAYEXEC_SMP overrides it.
 */
function guestCpus(): string {
  return process.env.OMAYEXEC_SMP ?? '1';
}

/** Whether this QEMU has memory-backend-memfd (5.0 and later, built with memfd), learnt once per binary. */
function hasMemfdBackend(bin: string): boolean {
  const probe = () => (/memory-backend-memfd/.test(spawnSync(bin, ['-object', 'help'], { encoding: 'utf8', timeout: 5000 }).stdout ?? '') ? 'yes' : 'no');
  return programFact('qemu-memfd-backend', bin, probe) === 'yes';
}

/**
 * Guest RAM from a memfd, not QEMU's default anonymous memory (which it asks
 * to back with transparent huge pages): on this project's machines
 * consecutive boots alternated between two speeds with the default, one ~10%
 * slower in the guest (Debian 6.1: kernel boot to /init 1.66-1.70 s against
 * 1.48-1.53 s), and a bench's floor/full pairs fell on opposite sides; with a
 * memfd the slow mode was gone (1.49-1.61 s). A QEMU without the backend
 * keeps its default.
 */
function ramArgs(arch: KernelArch, memoryMB: number): { machine: string; object: string[] } {
  if (!hasMemfdBackend(QEMU_BINARY[arch].bin)) return { machine: '', object: [] };
  return { machine: ',memory-backend=omxram', object: ['-object', `memory-backend-memfd,id=omxram,size=${memoryMB}M`] };
}

export function qemuArgs(o: QemuOptions, accel: 'kvm' | 'tcg'): string[] {
  assertBootableArch(o.arch);
  const memoryMB = o.memoryMB ?? 512;
  const ram = ramArgs(o.arch, memoryMB);
  const args = [
    '-machine', `q35,accel=${accel}${ram.machine}`,
    ...ram.object,
    '-cpu', accel === 'kvm' ? 'host' : 'max',
    '-m', String(memoryMB),
    '-smp', guestCpus(),
    '-display', 'none', '-monitor', 'none', '-nodefaults', '-no-user-config',
    '-no-reboot',
    '-serial', 'stdio',
    // ttyS1: the executor's channel on kernels without virtio-serial
    '-chardev', `pipe,id=omxser,path=${join(o.channelDir, 'ser1')}`, '-serial', 'chardev:omxser',
    '-device', 'virtio-serial-pci,id=omxvs',
    '-chardev', `pipe,id=omxrpc,path=${join(o.channelDir, 'rpc')}`,
    '-device', 'virtserialport,bus=omxvs.0,chardev=omxrpc,name=omx.rpc',
    '-kernel', o.kernel,
    '-initrd', o.initrd,
    '-append', o.append,
  ];
  if (existsSync(QBOOT)) args.push('-bios', QBOOT);
  return [...args, ...(o.extraArgs ?? [])];
}

/** util-linux setpriv with --pdeathsig (2.33 and later), learnt once per setpriv binary. */
function hasSetpriv(): boolean {
  const help = () => (/--pdeathsig/.test(spawnSync('setpriv', ['--help'], { encoding: 'utf8' }).stdout ?? '') ? 'yes' : 'no');
  return programFact('setpriv-pdeathsig', 'setpriv', help) === 'yes';
}

export interface RunningQemu {
  /** The executor channels offered to the guest: virtio-serial port, then ttyS1. */
  channels: FifoChannel[];
  /** Resolves when QEMU has exited (all channels closed by then). */
  exited: Promise<QemuOutcome>;
  /** Mark the executor ready: the boot timeout no longer applies. */
  booted(): void;
  kill(why: NonNullable<QemuOutcome['killedFor']>): void;
}

/** Start QEMU; the caller talks to the executor over `channels`, then awaits `exited`. */
export function startQemu(o: QemuOptions): RunningQemu {
  const bin = findQemu(o.arch);
  const accel = o.accel;
  const argv = qemuArgs(o, accel);
  const channels = offerChannels(o.channelDir);
  const consoleOut = createWriteStream(o.consoleLog);
  const t0 = performance.now();
  const since = () => Math.round(performance.now() - t0);
  const outcome: QemuOutcome = { exitCode: null, signal: null, killedFor: null, signs: [], accel, timings: { exited: 0 }, argv };
  let booted = false;

  const kill = (why: NonNullable<QemuOutcome['killedFor']>) => {
    if (outcome.killedFor || child.exitCode !== null || child.signalCode !== null) return;
    outcome.killedFor = why;
    child.kill('SIGKILL');
  };
  const onConsoleLine = (line: string) => {
    if (outcome.timings.initReached === undefined && line.includes('OMX-CONSOLE init reached')) {
      outcome.timings.initReached = since();
      const up = /uptime=([\d.]+)/.exec(line);
      if (up) outcome.timings.initUptime = Number(up[1]);
    }
    const loaded = line.includes('OMX-CONSOLE modules loaded') ? /uptime=([\d.]+)/.exec(line) : null;
    if (loaded) outcome.timings.modulesUptime ??= Number(loaded[1]);
    const sign = scanConsoleLine(line);
    if (sign) {
      outcome.signs.push({ ...sign, resultLines: o.resultLineCount() });
      // The kernel reboots on panic (panic=-1, -no-reboot ends QEMU); an oops
      // may leave it running: give it a moment to print the trace, then stop it.
      if (isFatal(sign.kind)) setTimeout(() => kill('crash'), 2000).unref();
    }
    o.onConsoleLine?.(line);
  };
  const stderr: string[] = [];
  // QEMU never outlives the CLI: with the CLI killed (even SIGKILL) the
  // kernel sends it SIGKILL (setpriv sets PR_SET_PDEATHSIG, then execs it).
  const [cmd, args] = hasSetpriv() ? ['setpriv', ['--pdeathsig', 'SIGKILL', '--', bin, ...argv]] : [bin, argv];
  outcome.timings.spawnedAt = Math.round(performance.now());
  const { child, ended } = spawnLines(cmd, args, {
    // console.log: stdout (ttyS0) and stderr as they come, byte for byte.
    onChunk: (chunk, from) => {
      if (from === 'stdout') outcome.timings.firstConsole ??= since();
      consoleOut.write(chunk);
    },
    onLine: (line, from) => (from === 'stdout' ? onConsoleLine(line) : stderr.push(line)),
  });
  // Boot: until the executor is ready (the caller says so), not only /init.
  const bootTimer = setTimeout(() => {
    if (!booted) kill('boot-timeout');
  }, o.bootTimeoutSec * 1000);
  const runTimer = setTimeout(() => kill('run-timeout'), o.runTimeoutSec * 1000);

  const stopTimers = () => {
    clearTimeout(bootTimer);
    clearTimeout(runTimer);
  };
  const exited = ended.then(
    ({ code, signal }) => {
      stopTimers();
      outcome.exitCode = code;
      outcome.signal = signal;
      outcome.timings.exited = since();
      const why = outcome.killedFor ? `QEMU killed (${outcome.killedFor})` : `QEMU exited (${signal ?? `code ${code}`})`;
      for (const c of channels) c.close(why);
      if (code !== 0 && code !== null && !outcome.killedFor && outcome.timings.firstConsole === undefined) {
        consoleOut.end();
        const last = stderr.filter((l) => l.trim()).pop()?.trim() ?? '';
        throw new HarnessError(`${bin} failed to start (exit ${code}): ${last}`);
      }
      return new Promise<QemuOutcome>((resolve) => consoleOut.end(() => resolve(outcome)));
    },
    (e: Error) => {
      stopTimers();
      for (const c of channels) c.close(`could not start ${bin}`);
      consoleOut.end();
      throw new HarnessError(`could not start ${bin}: ${e.message}`);
    },
  );
  return { channels, exited, kill, booted: () => void (booted = true) };
}
