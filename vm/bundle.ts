// Build step after tsc: compile the guest's static C programs (the executor
// and the helpers) into dist/guest/, the tree copied into the initramfs
// (/omx), and bundle the ffi runner with tap and every suite into one file
// for `pack` (dist/board/runner.js: a board runs it with its own node).
import { build, type BuildOptions, type Plugin } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { declaredSysctls } from './sysctl-guard.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const guest = join(root, 'dist/guest');
const board = join(root, 'dist/board');

/** suites/<area>/<name>.ts -> suite id <name>; ids must be unique. */
export function listSuiteSources(): { id: string; area: string; file: string }[] {
  const suitesDir = join(root, 'dist/suites');
  const found: { id: string; area: string; file: string }[] = [];
  for (const area of readdirSync(suitesDir).sort()) {
    if (!statSync(join(suitesDir, area)).isDirectory()) continue; // index.js: the registry
    for (const f of readdirSync(join(suitesDir, area)).sort()) {
      if (!f.endsWith('.js')) continue;
      found.push({ id: basename(f, '.js'), area, file: join(suitesDir, area, f) });
    }
  }
  const ids = found.map((s) => s.id);
  const dup = ids.find((id, i) => ids.indexOf(id) !== i);
  if (dup) throw new Error(`two suites are named ${dup}: suite file names must be unique`);
  return found;
}

// esbuild's ESM output needs a require() for tap's CommonJS dependencies.
const banner = "import { createRequire as __omxRequire } from 'node:module'; const require = __omxRequire(import.meta.url);";

// tcompare loads react-element-to-jsx-string at start-up through a
// createRequire esbuild cannot see; suites never compare React elements, so
// that module is replaced by a plain formatter.
const noReactFormatter: Plugin = {
  name: 'no-react-formatter',
  setup(b) {
    b.onLoad({ filter: /tcompare[\\/]dist[\\/]esm[\\/]react-element-to-jsx-string\.js$/ }, () => ({
      contents: 'export default (element) => String(element);',
      loader: 'js',
    }));
  },
};

/** The options both bundles share: node 20 ESM, tap's CommonJS parts through require. */
const NODE_BUNDLE: BuildOptions = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  banner: { js: banner },
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  logLevel: 'warning',
  plugins: [noReactFormatter],
};

/** tap's Test class in one file, for the CLI's runs (preferBundledTap in harness/suite.ts). */
async function bundleTap(): Promise<void> {
  await build({ ...NODE_BUNDLE, entryPoints: [join(root, 'dist/harness/tap-entry.js')], outfile: join(root, 'dist/harness/tap-bundle.js') });
}

async function bundleBoardRunner(): Promise<void> {
  await build({
    ...NODE_BUNDLE,
    entryPoints: [join(root, 'dist/harness/direct-runner.js')],
    outfile: join(board, 'runner.js'),
    external: ['koffi'],
    define: { 'process.env.OMX_BUNDLED': '"1"' },
  });
}

/**
 * One static, non-PIE binary (harness/executor/multicall.c): the executor,
 * and the helpers as symlinks to it, each program's main() renamed at
 * compile time. Static: it runs in a bare initramfs; non-PIE: uselib32
 * needs its data below 4 GiB for int $0x80.
 */
function compileGuest(): void {
  const objects = mkdtempSync(join(tmpdir(), 'omx-guest-'));
  try {
    const cc = (source: string, main: string | null) => {
      const out = join(objects, `${basename(source, '.c')}.o`);
      execFileSync('gcc', ['-O2', '-no-pie', '-Wall', '-Wextra', '-c', ...(main ? [`-Dmain=${main}`] : []), '-o', out, source], { stdio: 'inherit' });
      return out;
    };
    const src = join(root, 'harness/helpers');
    const helpers = readdirSync(src).filter((f) => f.endsWith('.c')).map((f) => basename(f, '.c')).sort();
    const dispatch = readFileSync(join(root, 'harness/executor/multicall.c'), 'utf8');
    const missing = helpers.filter((h) => !dispatch.includes(`{ "${h}", ${h.replace(/-/g, '_')}_main }`));
    // Without its entry a helper's symlink would start the executor instead.
    if (missing.length) throw new Error(`harness/executor/multicall.c has no entry for: ${missing.join(', ')}`);
    const objs = [
      cc(join(root, 'harness/executor/multicall.c'), null),
      cc(join(root, 'harness/executor/executor.c'), 'omx_executor_main'),
      cc(join(root, 'harness/executor/guest-init.c'), null),
      ...helpers.map((h) => cc(join(src, `${h}.c`), `${h.replace(/-/g, '_')}_main`)),
    ];
    execFileSync('gcc', ['-static', '-no-pie', '-s', '-o', join(guest, 'executor'), ...objs], { stdio: 'inherit' });
    mkdirSync(join(guest, 'helpers'), { recursive: true });
    for (const h of helpers) symlinkSync('../executor', join(guest, 'helpers', h));
  } finally {
    rmSync(objects, { recursive: true, force: true });
  }
}

/** Every suite file must be in suites/index.ts, or the runner could never run it. */
async function checkRegistry(suites: { id: string; file: string }[]): Promise<void> {
  const index = (await import(join(root, 'dist/suites/index.js'))) as { SUITE_MODULES: Record<string, unknown> };
  const missing = suites.filter((s) => !(s.id in index.SUITE_MODULES)).map((s) => s.id);
  if (missing.length) throw new Error(`suites not registered in suites/index.ts: ${missing.join(', ')}`);
}

async function main(): Promise<void> {
  rmSync(guest, { recursive: true, force: true });
  rmSync(board, { recursive: true, force: true });
  mkdirSync(guest, { recursive: true });
  const suites = listSuiteSources();
  await checkRegistry(suites);
  compileGuest();
  await bundleBoardRunner();
  await bundleTap();
  writeFileSync(join(board, 'suites.json'), JSON.stringify(suites.map((s) => s.id)) + '\n');
  // What run_omayexec.sh saves before the runner and writes back after it: the suites' own saveRestore lists.
  const index = (await import(join(root, 'dist/suites/index.js'))) as { suiteSpecs(): Promise<{ saveRestore?: string[] }[]> };
  writeFileSync(join(board, 'sysctls.txt'), declaredSysctls(await index.suiteSpecs()).map((p) => `${p}\n`).join(''));
  console.log(`built the executor and ${readdirSync(join(guest, 'helpers')).length} helpers into dist/guest, the board runner (${suites.length} suites) into dist/board`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e: Error) => {
    console.error(`bundle: ${e.message}`);
    process.exit(1);
  });
}
