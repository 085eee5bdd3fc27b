// Building one batch (one round trip) out of groups of calls, each written
// as if it started the batch: a group's RESULT arguments count from its own
// first call, and add() moves them to where the group lands.
import { calls, type CapSets } from './calls.js';
import { checkCapSwitch } from './caps.js';
import type { Call } from './executor-protocol.js';
import { TargetError, type SysResult, type Target } from './target.js';

/** `batch` moved `by` places later: its RESULT arguments follow it. */
export function shifted(batch: Call[], by: number): Call[] {
  return batch.map((c) => ({ ...c, args: c.args.map((a) => ('result' in a ? { result: a.result + by } : a)) }));
}

export class Batch {
  readonly calls: Call[] = [];
  private readonly capChecks: { at: number; what: string; want: bigint }[] = [];
  private readonly required: { at: number; what: string }[] = [];

  /** Appends a group; returns the index of its first call. */
  add(...group: Call[]): number {
    const at = this.calls.length;
    this.calls.push(...shifted(group, at));
    return at;
  }

  /** Appends a group whose every call must succeed (fixture setup): check() makes a failure an error. */
  must(what: string, ...group: Call[]): number {
    const at = this.add(...group);
    group.forEach((_, k) => this.required.push({ at: at + k, what }));
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
    this.check(rs);
    return rs;
  }

  /** The capability switches and the must() calls, on results of this batch run some other way (e.g. inside a work-mount batch). */
  check(rs: SysResult[]): void {
    for (const c of this.capChecks) checkCapSwitch(c.what, rs[c.at]!, rs[c.at + 1]!, c.want);
    const bad = this.required.find((r) => !rs[r.at]!.ok);
    if (bad) throw new TargetError(`${bad.what}: call ${bad.at + 1} (nr ${this.calls[bad.at]!.nr}) failed: ${rs[bad.at]!.errno}`);
  }
}
