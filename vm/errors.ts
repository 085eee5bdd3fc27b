// How a command ends, in one place: the exit statuses (README, "Exit
// status"; the usage text in vm/cli.ts), the verdict-to-status map of `run`,
// the host's two error kinds, and the one line the CLI prints for an error
// that reaches it. Bad input is the user's to fix (2); a harness error is
// ours or the machine's (6), never the kernel's.

export const EXIT = {
  /** run: conformant; compare: nothing regressed; any other command: done. */
  ok: 0,
  /** run: a case failed; compare: a regression or lost coverage; mutants: a fault survived or the reference failed. */
  failed: 1,
  /** Bad usage or input (missing kernel, not a kernel, unknown suite, missing host tool...). */
  badInput: 2,
  panic: 3,
  /** Nothing verifiable: every case skipped. */
  nothingVerifiable: 4,
  timeout: 5,
  /** Boot failure or harness error. */
  harness: 6,
} as const;

/** The seven verdicts of a run and the exit status of each. */
export const EXIT_CODES = {
  pass: EXIT.ok,
  fail: EXIT.failed,
  skip: EXIT.nothingVerifiable,
  panic: EXIT.panic,
  timeout: EXIT.timeout,
  'boot-failure': EXIT.harness,
  error: EXIT.harness,
} as const satisfies Record<string, number>;

export class BadInputError extends Error {}
export class HarnessError extends Error {}

export interface CommandFailure {
  exitCode: number;
  /** One line for stderr. */
  line: string;
}

/** What the CLI prints and returns for an error that ended a command: never a stack trace. */
export function commandFailure(e: unknown, program = 'omayexec-conformance'): CommandFailure {
  const err = e as Partial<NodeJS.ErrnoException>;
  const message = e instanceof Error ? e.message : String(e);
  if (e instanceof BadInputError || err.code?.startsWith('ERR_PARSE_ARGS')) return { exitCode: EXIT.badInput, line: `${program}: ${message}` };
  if (err.code === 'ENOSPC') {
    return {
      exitCode: EXIT.harness,
      line: `${program}: no space left on device while writing ${err.path ?? 'the cache or results'}; free some space or point OMAYEXEC_CACHE / OMAYEXEC_RESULTS elsewhere`,
    };
  }
  if (e instanceof HarnessError) return { exitCode: EXIT.harness, line: `${program}: harness error: ${message}` };
  return { exitCode: EXIT.harness, line: `${program}: internal error: ${message}` };
}
