// Scans kernel console lines for the signs of a crash (syzkaller-style).
// A panic or oops ends the run's verdict; a WARNING taints the case it
// happened in.
export type ConsoleSignKind = 'panic' | 'oops' | 'bug' | 'warning' | 'hung-task' | 'lockup';

const SIGNS: { kind: ConsoleSignKind; re: RegExp }[] = [
  { kind: 'panic', re: /Kernel panic - not syncing/ },
  { kind: 'oops', re: /\bOops: |general protection fault|unable to handle (kernel|page)/i },
  { kind: 'bug', re: /\bBUG: (?!soft lockup)/ },
  { kind: 'warning', re: /\bWARNING: (CPU: \d+ PID|.* at )/ },
  { kind: 'hung-task', re: /INFO: task .* blocked for more than \d+ seconds/ },
  { kind: 'lockup', re: /watchdog: BUG: soft lockup|rcu_sched self-detected stall|rcu: INFO: .*stall/ },
];

export interface ConsoleSign {
  kind: ConsoleSignKind;
  line: string;
}

export function scanConsoleLine(line: string): ConsoleSign | null {
  for (const s of SIGNS) if (s.re.test(line)) return { kind: s.kind, line: line.trim() };
  return null;
}

/** Signs that mean the kernel itself failed (verdict panic, exit 3). */
export function isFatal(kind: ConsoleSignKind): boolean {
  return kind === 'panic' || kind === 'oops' || kind === 'bug' || kind === 'lockup';
}
