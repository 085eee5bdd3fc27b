// Build step after tsc: bundle the suite host (tap and every suite, CommonJS,
// with its loader and V8 code cache) and the guest runner (ES module) into one
// file each (node starts a single file far faster than it resolves tap's
// module graph: ~0.18 s vs ~0.39 s on the host, more under emulation), and
// compile the static C helpers. Output: dist/guest/, the tree that is copied
// as-is into the guest (/omx) and into `pack` bundles.
import { build, type Plugin } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const out = join(root, 'dist/guest');

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

const cjsBanner = "var __omxMetaUrl = require('node:url').pathToFileURL(__filename).href;";

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

async function bundle(entry: string, outfile: string, format: 'esm' | 'cjs' = 'esm'): Promise<void> {
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format,
    external: ['koffi'],
    // CommonJS has no import.meta: the bundle's own file URL stands in.
    ...(format === 'esm' ? { banner: { js: banner } } : { banner: { js: cjsBanner }, define: { 'import.meta.url': '__omxMetaUrl' } }),
    // Whitespace and syntax only (names are kept): 880 KB -> 570 KB per
    // bundle. Loading tap alone in the guest measured 2.1-3.4 s instead of
    // 2.4-4.2 s; a whole reference run stayed within its noise (~39 s).
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    logLevel: 'warning',
    plugins: [noReactFormatter],
  });
}

/** The suite host's V8 code cache, made by this node: the guest runs the same binary. */
function writeCodeCache(): void {
  execFileSync(process.execPath, [join(out, 'suite-host.js')], { env: { ...process.env, OMAYEXEC_CODE_CACHE_BUILD: '1' }, stdio: 'inherit' });
}

function compileHelpers(): void {
  const src = join(root, 'harness/helpers');
  const dest = join(out, 'helpers');
  mkdirSync(dest, { recursive: true });
  for (const f of readdirSync(src).filter((f) => f.endsWith('.c'))) {
    // Static and non-PIE: runs in a bare initramfs, and uselib32 needs its
    // data below 4 GiB for the int $0x80 ABI.
    execFileSync('gcc', ['-O2', '-static', '-no-pie', '-Wall', '-o', join(dest, basename(f, '.c')), join(src, f)], {
      stdio: 'inherit',
    });
  }
}

/** Every suite file must be in suites/index.ts, or the host could never run it. */
async function checkRegistry(suites: { id: string; file: string }[]): Promise<void> {
  const index = (await import(join(root, 'dist/suites/index.js'))) as { SUITE_MODULES: Record<string, unknown> };
  const missing = suites.filter((s) => !(s.id in index.SUITE_MODULES)).map((s) => s.id);
  if (missing.length) throw new Error(`suites not registered in suites/index.ts: ${missing.join(', ')}`);
}

async function main(): Promise<void> {
  rmSync(out, { recursive: true, force: true });
  const suites = listSuiteSources();
  await checkRegistry(suites);
  // One bundle holds tap and every suite (each evaluated only when run),
  // CommonJS so that its loader can use a V8 code cache; the runner's own
  // bundle has no tap in it.
  await bundle(join(root, 'dist/harness/suite-host.js'), join(out, 'suite-host.cjs'), 'cjs');
  await bundle(join(root, 'dist/harness/host-loader.js'), join(out, 'suite-host.js'));
  writeCodeCache();
  await bundle(join(root, 'dist/harness/runner.js'), join(out, 'runner.js'));
  writeFileSync(join(out, 'suites.json'), JSON.stringify(suites.map((s) => s.id)) + '\n');
  compileHelpers();
  console.log(`bundled ${suites.length} suites with the suite host, the runner and the helpers into dist/guest`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e: Error) => {
    console.error(`bundle: ${e.message}`);
    process.exit(1);
  });
}
