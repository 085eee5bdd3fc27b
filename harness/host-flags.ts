// node/V8 flags of the suite host under software emulation. V8's compiler
// tiers (Sparkplug, TurboFan) emit fresh machine code that QEMU's TCG must
// translate again, and the suites' hot loops are short: interpreted, the
// 897 policy cases took 3.1-3.3 s of CPU in the guest instead of 5.1-5.3 s
// (reference 6.1, three runs each). Loading got ~0.5 s slower; a whole
// reference run went from 21.0-22.7 s to 18.9-23.1 s, a Debian 6.1 run
// stayed within its noise. Under KVM and in direct mode no flags are given.
// The V8 code cache is only accepted by a node started with the flags it was
// written with: `npm run build` writes it with these.
export const SUITE_HOST_NODE_FLAGS_TCG: string[] = ['--no-opt', '--no-sparkplug'];
