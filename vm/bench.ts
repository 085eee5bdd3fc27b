// npm run bench: boot-to-verdict cost, measured against its floor.
//   floor: the same kernel and QEMU settings booting a busybox-only
//          initramfs whose /init reboots at once;
//   full:  a complete conformance run (all suites that apply);
//   cold:  the full run with the base initramfs archive rebuilt first.
// Pairs are measured back to back so full/floor compares like with like.
// Writes results/bench-<id>.json and prints medians and ranges per phase.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, existsSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { offerChannels } from './fifo-channel.js';
import { CpioWriter } from './cpio.js';
import { EXIT } from './errors.js';
import { fetchDebianKernel } from './debian.js';
import { ensureBaseArchive } from './initramfs.js';
import { projectRoot, resultsRoot } from './paths.js';
import { spawnLines } from './process-lines.js';
import { chooseAccel, GUEST_CMDLINE, qemuArgs } from './qemu.js';
import type { RunRecord } from './record.js';

interface KernelUnderBench {
  label: string;
  image: string;
  /** Arguments that select it for `run`. */
  runArgs: string[];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function floorInitrd(dir: string): string {
  const path = join(dir, 'floor.cpio');
  const w = new CpioWriter(path);
  for (const d of ['/bin', '/dev', '/proc']) w.add({ kind: 'dir', path: d, mode: 0o755 });
  w.add({ kind: 'node', path: '/dev/console', mode: 0o600, type: 'char', major: 5, minor: 1 });
  w.add({ kind: 'file', path: '/bin/busybox', source: '/bin/busybox', mode: 0o755 });
  for (const a of ['sh', 'reboot']) w.add({ kind: 'symlink', path: `/bin/${a}`, target: 'busybox' });
  w.add({ kind: 'data', path: '/init', mode: 0o755, data: Buffer.from('#!/bin/sh\necho OMX-CONSOLE init reached\nreboot -f\n') });
  w.finish();
  return path;
}

interface FloorBoot {
  /** QEMU start to exit. */
  wall: number;
  /** QEMU start to the init's console line: compare with a full run's qemuToInit. */
  toInit: number;
}

/** The floor guest's boot, in seconds. */
function bootFloor(k: KernelUnderBench, initrd: string, dir: string): Promise<FloorBoot> {
  const accel = chooseAccel(k.image);
  // The same machine as a full run, channel devices included.
  const channels = offerChannels(dir);
  const argv = qemuArgs({
    kernel: k.image, initrd, arch: 'x86_64', accel, append: GUEST_CMDLINE,
    consoleLog: '', channelDir: dir, bootTimeoutSec: 60, runTimeoutSec: 60, resultLineCount: () => 0,
  }, accel);
  const t0 = performance.now();
  const out: string[] = [];
  let toInit = NaN;
  const onLine = (l: string) => {
    if (Number.isNaN(toInit) && l.includes('init reached')) toInit = (performance.now() - t0) / 1000;
    out.push(l);
  };
  const { child, ended } = spawnLines('qemu-system-x86_64', argv, { stderr: 'inherit', onLine });
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return ended.then(() => {
    clearTimeout(timer);
    for (const c of channels) c.close();
    if (!out.some((l) => l.includes('init reached'))) throw new Error(`floor guest did not reach /init: ${out.join('\n').slice(-300)}`);
    return { wall: (performance.now() - t0) / 1000, toInit };
  });
}

/** One full run through the CLI, as a user runs it; returns its record and wall time. */
function fullRun(k: KernelUnderBench, resultsDir: string): Promise<{ wall: number; record: RunRecord }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(projectRoot, 'bin/omayexec-conformance.js'), 'run', ...k.runArgs, '--quiet'], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, OMAYEXEC_RESULTS: resultsDir },
    });
    child.on('close', (code) => {
      const wall = (performance.now() - t0) / 1000;
      const file = join(resultsDir, 'latest', 'results.json');
      if (!existsSync(file)) return reject(new Error(`run ${k.label} wrote no results (exit ${code})`));
      resolve({ wall, record: JSON.parse(readFileSync(file, 'utf8')) as RunRecord });
    });
  });
}

/** Drop the cached base archive and every assembled initrd built on it. */
function coldBase(): void {
  const base = ensureBaseArchive();
  renameSync(base.path, `${base.path}.bench-moved`);
  rmSync(`${base.path}.bench-moved`);
  rmSync(join(dirname(base.path), 'assembled'), { recursive: true, force: true });
}

type Sample = Record<string, number>;

function phases(r: RunRecord, wall: number): Sample {
  const t = r.timings;
  const s: Sample = { wall };
  const add = (k: string, v: unknown) => {
    if (typeof v === 'number') s[k] = v;
  };
  add('host: process start to QEMU spawn', t.processStartToQemu);
  if (typeof t.processStartToQemu === 'number' && typeof t.qemuTotal === 'number') add('host: QEMU exit to process exit', wall - t.processStartToQemu - t.qemuTotal);
  add('initramfs', t.initramfs);
  add('initramfs size (MB)', t.initrdMB);
  add('qemuToConsole', t.qemuToConsole);
  add('qemuToInit', t.qemuToInit);
  add('guest: kernel boot to /init', t.guestUptimeAtInit);
  if (typeof t.guestUptimeModulesLoaded === 'number' && typeof t.guestUptimeAtInit === 'number') add('guest: /init loading modules', t.guestUptimeModulesLoaded - t.guestUptimeAtInit);
  add('QEMU start to executor ready', t.qemuToExecutorReady);
  add('host: tap, suites and config check loaded (while the guest boots)', t.hostLoadWhileBooting);
  add('host: suites (all, through the executor)', t.suites);
  add('round trips', t.roundTrips);
  add('µs per round trip (mean, guest work included)', t.microsPerRoundTrip);
  add('call batches', t.batches);
  add('mean batch (calls)', t.meanBatch);
  add('largest batch (calls)', t.maxBatch);
  if (typeof t.guestUptimeAtEnd === 'number' && typeof t.qemuTotal === 'number' && typeof t.qemuToInit === 'number' && typeof t.guestUptimeAtInit === 'number') {
    add('power-off (after sentinel)', t.qemuTotal - t.qemuToInit - (t.guestUptimeAtEnd - t.guestUptimeAtInit));
  }
  add('qemuTotal', t.qemuTotal);
  for (const suite of r.suites) {
    if (suite.seconds) s[`suite:${suite.id}`] = suite.seconds;
    // In-guest per-case costs the suites measured (µs per open, per exec
    // probe, i.e. fork + exec) and the suite's CPU time.
    for (const [k, v] of Object.entries(suite.metrics ?? {})) {
      if (/^micros/.test(k)) s[`${suite.id} ${k}`] = v;
    }
  }
  return s;
}

function summarize(samples: Sample[]): Record<string, { median: number; min: number; max: number }> {
  const keys = [...new Set(samples.flatMap((s) => Object.keys(s)))];
  const out: Record<string, { median: number; min: number; max: number }> = {};
  for (const k of keys) {
    const xs = samples.map((s) => s[k]).filter((v): v is number => v !== undefined);
    out[k] = { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
  }
  return out;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { runs: { type: 'string', short: 'n' }, kernel: { type: 'string', multiple: true }, cold: { type: 'string' } },
  });
  const runs = Number(values.runs ?? 5);
  const coldRuns = Number(values.cold ?? 1);
  const which = values.kernel ?? ['debian-6.1', 'reference-6.1'];
  const kernels: KernelUnderBench[] = [];
  for (const w of which) {
    if (w === 'debian-6.1' || w === 'debian-6.12') {
      const series = w.slice('debian-'.length) as '6.1' | '6.12';
      kernels.push({ label: w, image: fetchDebianKernel(series, () => {}).image, runArgs: ['--debian', series] });
    } else if (w === 'reference-6.1' || w === 'reference-6.12') {
      const series = w.slice('reference-'.length) as '6.1' | '6.12';
      const { buildKernel } = await import('./kernel/build.js');
      const k = await buildKernel({ series, patches: 'omayexec-v7' });
      kernels.push({ label: w, image: k.image, runArgs: ['--reference', series, '--expect', 'omayexec-v7'] });
    } else {
      kernels.push({ label: w, image: w, runArgs: ['--kernel', w] });
    }
  }
  const work = mkdtempSync(join(tmpdir(), 'omx-bench-'));
  const initrd = floorInitrd(work);
  const report: Record<string, unknown> = { date: new Date().toISOString(), runs, accel: null, kernels: {} };
  for (const k of kernels) {
    console.error(`bench ${k.label}: ${runs} pairs (floor, full) + ${coldRuns} cold`);
    const floors: FloorBoot[] = [];
    const fulls: Sample[] = [];
    const ratios: number[] = [];
    let verdicts: string[] = [];
    await fullRun(k, join(work, 'warm')); // warm the caches (base archive, kernel)
    for (let i = 0; i < runs; i++) {
      const floor = await bootFloor(k, initrd, work);
      const full = await fullRun(k, join(work, `r${i}`));
      floors.push(floor);
      fulls.push(phases(full.record, full.wall));
      ratios.push(full.wall / floor.wall);
      verdicts.push(full.record.verdict);
      report.accel = full.record.qemu?.accel ?? null;
      console.error(`  pair ${i + 1}: floor ${floor.wall.toFixed(2)} s, full ${full.wall.toFixed(2)} s (${full.record.verdict}), ratio ${(full.wall / floor.wall).toFixed(2)}`);
    }
    const colds: Sample[] = [];
    for (let i = 0; i < coldRuns; i++) {
      coldBase();
      const cold = await fullRun(k, join(work, `c${i}`));
      colds.push(phases(cold.record, cold.wall));
      console.error(`  cold ${i + 1}: ${cold.wall.toFixed(2)} s`);
    }
    (report.kernels as Record<string, unknown>)[k.label] = {
      floor: summarize(floors.map((f) => ({ wall: f.wall }))).wall,
      floorToInit: summarize(floors.map((f) => ({ toInit: f.toInit }))).toInit,
      full: summarize(fulls),
      ratioFullToFloor: summarize(ratios.map((r) => ({ r }))).r,
      cold: summarize(colds),
      verdicts,
    };
    verdicts = [];
  }
  rmSync(work, { recursive: true, force: true });
  mkdirSync(resultsRoot(), { recursive: true });
  const out = join(resultsRoot(), `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(out, JSON.stringify(report, null, 2) + '\n');
  for (const [label, r] of Object.entries(report.kernels as Record<string, { floor: { median: number; min: number; max: number }; floorToInit: { median: number; min: number; max: number }; full: Record<string, { median: number; min: number; max: number }>; ratioFullToFloor: { median: number; min: number; max: number }; cold: Record<string, { median: number; min: number; max: number }> }>)) {
    console.log(`\n${label} (accel ${report.accel}, ${runs} runs): median [min–max] seconds`);
    const row = (name: string, v?: { median: number; min: number; max: number }) =>
      v && console.log(`  ${name.padEnd(58)} ${v.median.toFixed(2).padStart(9)}  [${v.min.toFixed(2)}–${v.max.toFixed(2)}]`);
    row('floor (busybox init, reboot)', r.floor);
    row('floor: QEMU start to /init (compare full: qemuToInit)', r.floorToInit);
    for (const [k, v] of Object.entries(r.full)) row(`full: ${k}`, v);
    row('ratio full/floor (pairwise)', r.ratioFullToFloor);
    for (const [k, v] of Object.entries(r.cold)) if (k === 'wall' || k === 'initramfs') row(`cold base archive: ${k}`, v);
  }
  console.log(`\nwritten: ${out}`);
  return EXIT.ok;
}

main().then(
  (c) => process.exit(c),
  (e: Error) => {
    console.error(`bench: ${e.message}`);
    process.exit(EXIT.harness);
  },
);
