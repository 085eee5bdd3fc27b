// Building one batch (one round trip) out of groups of calls, each written
// as if it started the batch: a group's RESULT arguments count from its own
// first call, and add() moves them to where the group lands.
import { calls, type CapSets } from './calls.js';
import { checkCapSwitch } from './caps.js';
import type { Call } from './executor-protocol.js';
import type { SysResult, Target } from './target.js';

/** `batch` moved `by` places later: its RESULT arguments follow it. */
export function shifted(batch: Call[], by: number): Call[] {
  return batch.map((c) => ({ ...c, args: c.args.map((a) => ('result' in a ? { result: a.result + by } : a)) }));
}

export class Batch {
  readonly calls: Call[] = [];
  private readonly capChecks: { at: number; what: string; want: bigint }[] = [];

  /** Appends a group; returns the index of its first call. */
  add(...group: Call[]): number {
    const at = this.calls.length;
    this.calls.push(...shifted(group, at));
    return at;
  }

  /** A RESULT argument naming call `index` of the batch, for the group the next add() appends. */
  resultOf(index: number): { result: number } {
    return { result: index - this.calls.length };
  }

  /** capset then capget: run() fails unless the effective set became `sets.effective`. */
  setCaps(what: string, sets: CapSets): void {
    const at = this.add(calls.capset(sets), calls.capget());
    this.capChecks.push({ at, what, want: sets.effective });
  }

  /** Runs the batch; a capability switch that did not take is an error, never a case result. */
  async run(target: Target): Promise<SysResult[]> {
    const rs = await target.runAll(this.calls);
    this.checkCaps(rs);
    return rs;
  }

  /** The capability checks, on results of this batch run some other way (e.g. inside a work-mount batch). */
  checkCaps(rs: SysResult[]): void {
    for (const c of this.capChecks) checkCapSwitch(c.what, rs[c.at]!, rs[c.at + 1]!, c.want);
  }
}
