// Target.loadModules: the calls it makes and which answers are errors. A
// scripted backend stands in for a guest's executor (the real path is
// booted in e2e-debian.vm.test.ts).
import t from 'tap';
import { NR } from '../harness/abi.js';
import type { Call, CallResult } from '../harness/executor-protocol.js';
import { Target, TargetError, type Backend } from '../harness/target.js';

const ENOENT = 2;
const ENOEXEC = 8;
const EBADF = 9;
const EEXIST = 17;

/** A backend whose open/finit_module answers come from `answers` (module name -> [open errno | fd, finit errno]). */
function scripted(dir: string | null, answers: Record<string, [number, number]>): { target: Target; batches: Call[][] } {
  const batches: Call[][] = [];
  const fail = (errno: number): CallResult => ({ ret: -1, errno, outs: [] });
  const backend: Backend = {
    kind: 'executor',
    onDemandModuleDir: dir,
    async calls(batch) {
      batches.push(batch);
      const rs: CallResult[] = [];
      for (const c of batch) {
        if (c.nr === NR.open) {
          const name = String((c.args[0] as { in: string }).in).split('/').pop()!.replace(/\.ko$/, '');
          const [open] = answers[name]!;
          rs.push(open < 0 ? fail(-open) : { ret: open, errno: 0, outs: [] });
        } else {
          const opened = rs[(c.args[0] as { result: number }).result]!;
          if (opened.ret < 0) rs.push(fail(EBADF));
          else if (c.nr === NR.finit_module) {
            const name = Object.keys(answers).find((n) => answers[n]![0] === opened.ret)!;
            const finit = answers[name]![1];
            rs.push(finit ? fail(finit) : { ret: 0, errno: 0, outs: [] });
          } else rs.push({ ret: 0, errno: 0, outs: [] });
        }
      }
      return rs;
    },
    helper: () => Promise.reject(new Error('no helpers here')),
    helperPath: (n) => n,
    withChild: () => Promise.reject(new Error('no children here')),
    identity: async () => ({ release: '6.1.0', machine: 'x86_64' }),
  };
  return { target: new Target(backend), batches };
}

t.test('one round trip: open, finit_module and close per module, from the on-demand folder', async (t) => {
  const { target, batches } = scripted('/omx/modules/on-demand', { loop: [3, 0], other: [4, 0] });
  await target.loadModules(['loop', 'other']);
  t.equal(batches.length, 1, 'one batch');
  t.same(batches[0]!.map((c) => c.nr), [NR.open, NR.finit_module, NR.close, NR.open, NR.finit_module, NR.close]);
  t.same(batches[0]!.filter((c) => c.nr === NR.open).map((c) => (c.args[0] as { in: string }).in), ['/omx/modules/on-demand/loop.ko', '/omx/modules/on-demand/other.ko']);
  t.same(batches[0]![4]!.args[0], { result: 3 }, 'each finit_module takes its own open\'s fd');
});

t.test('not shipped (ENOENT) and already loaded (EEXIST) are no errors', async (t) => {
  const { target } = scripted('/m', { absent: [-ENOENT, 0], loaded: [3, EEXIST] });
  await t.resolves(target.loadModules(['absent', 'loaded']));
});

t.test('a refusal of the kernel is an error naming the module and the errno', async (t) => {
  const { target } = scripted('/m', { loop: [3, ENOEXEC] });
  await t.rejects(target.loadModules(['loop']), new TargetError('fixture: load module loop: finit_module: ENOEXEC'));
  const unreadable = scripted('/m', { loop: [-13, 0] }).target;
  await t.rejects(unreadable.loadModules(['loop']), { message: 'fixture: open module loop: EACCES' });
});

t.test('a target without an on-demand folder (direct mode) makes no call', async (t) => {
  const { target, batches } = scripted(null, { loop: [3, 0] });
  await target.loadModules(['loop']);
  t.equal(batches.length, 0);
});
