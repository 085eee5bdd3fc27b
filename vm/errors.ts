// The host's error kinds, each with its exit code of `run` (README, "Exit
// status"): bad input is the user's to fix (2); a harness error is ours or
// the machine's (6).
export class BadInputError extends Error {}
export class HarnessError extends Error {}

export const EXIT_BAD_INPUT = 2;
export const EXIT_HARNESS = 6;
