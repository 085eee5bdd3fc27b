// npm run check:cycles: import cycles among the project's modules (vm/,
// harness/, suites/, fixtures/), found by a depth-first search over their
// relative import specifiers. Three graphs: what node loads (dist/*.js,
// static imports: the cycles that can break module initialisation), the same
// with import() calls, and the sources with type-only imports too (a cycle of
// types is still two modules that know each other). Exit 1 on a cycle of
// static runtime imports; the other two are reported.
//   node dist/test/import-cycles.js [--strict]   (--strict: exit 1 on any cycle)
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const DIRS = ['vm', 'harness', 'suites', 'fixtures'];

export interface ImportEdge {
  from: string;
  to: string;
  kind: 'static' | 'dynamic' | 'type';
}

function filesUnder(dir: string, ext: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? filesUnder(p, ext) : p.endsWith(ext) && !p.endsWith('.d.ts') ? [p] : [];
  });
}

function typeOnlyImport(node: ts.ImportDeclaration): boolean {
  const clause = node.importClause;
  if (!clause) return false; // import './x.js': a side effect
  if (clause.isTypeOnly) return true;
  const named = clause.namedBindings;
  return !clause.name && named !== undefined && ts.isNamedImports(named) && named.elements.length > 0 && named.elements.every((e) => e.isTypeOnly);
}

/** The relative imports of one file: `import`/`export ... from`, and `import('...')` with a literal specifier. */
export function importsOf(file: string): { specifier: string; kind: ImportEdge['kind'] }[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: { specifier: string; kind: ImportEdge['kind'] }[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push({ specifier: node.moduleSpecifier.text, kind: typeOnlyImport(node) ? 'type' : 'static' });
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push({ specifier: node.moduleSpecifier.text, kind: node.isTypeOnly ? 'type' : 'static' });
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const arg = node.arguments[0];
      if (arg && ts.isStringLiteralLike(arg)) found.push({ specifier: arg.text, kind: 'dynamic' });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found.filter((i) => i.specifier.startsWith('.'));
}

/** Edges between the files under `root`/DIRS with extension `ext` (a .js specifier names a .ts file in the sources). */
export function importGraph(root: string, ext: '.ts' | '.js'): { files: string[]; edges: ImportEdge[] } {
  const files = DIRS.flatMap((d) => filesUnder(join(root, d), ext)).map((f) => relative(root, f));
  const known = new Set(files);
  const edges: ImportEdge[] = [];
  for (const from of files) {
    for (const { specifier, kind } of importsOf(join(root, from))) {
      const to = relative(root, resolve(root, dirname(from), specifier)).replace(/\.js$/, ext);
      if (known.has(to)) edges.push({ from, to, kind });
    }
  }
  return { files, edges };
}

/**
 * The cycles the DFS closes (each back edge closes one, so a graph with any
 * cycle yields at least one), each once, as a path that ends where it starts.
 */
export function findCycles(files: string[], edges: ImportEdge[]): string[][] {
  const next = new Map<string, string[]>(files.map((f) => [f, []]));
  for (const e of edges) next.get(e.from)!.push(e.to);
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const seen = new Set<string>();
  const visit = (f: string): void => {
    state.set(f, 'open');
    stack.push(f);
    for (const to of [...new Set(next.get(f) ?? [])].sort()) {
      if (state.get(to) === 'open') {
        const cycle = [...stack.slice(stack.indexOf(to)), to];
        // The same cycle entered elsewhere: keyed by its members, rotated to its smallest.
        const ring = cycle.slice(0, -1);
        const start = ring.indexOf([...ring].sort()[0]!);
        const key = [...ring.slice(start), ...ring.slice(0, start)].join(' -> ');
        if (!seen.has(key)) {
          seen.add(key);
          cycles.push(cycle);
        }
      } else if (!state.has(to)) {
        visit(to);
      }
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of [...files].sort()) if (!state.has(f)) visit(f);
  return cycles;
}

function main(): number {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const strict = process.argv.includes('--strict');
  if (!existsSync(join(root, 'dist/vm'))) {
    console.error('import-cycles: dist/ is missing: run npm run build');
    return 2;
  }
  const dist = importGraph(join(root, 'dist'), '.js');
  const sources = importGraph(root, '.ts');
  const graphs: [string, string[], ImportEdge[], boolean][] = [
    ['dist/ static imports (what node loads)', dist.files, dist.edges.filter((e) => e.kind === 'static'), true],
    ['dist/ static + import()', dist.files, dist.edges, strict],
    ['sources, type-only imports included', sources.files, sources.edges.filter((e) => e.kind !== 'dynamic'), strict],
  ];
  let failed = false;
  for (const [name, files, edges, fatal] of graphs) {
    const cycles = findCycles(files, edges);
    console.log(`${name}: ${files.length} modules, ${edges.length} edges, ${cycles.length ? `${cycles.length} cycle(s)` : 'no cycle'}`);
    for (const c of cycles) console.log(`  ${c.join(' -> ')}`);
    if (cycles.length && fatal) failed = true;
  }
  return failed ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) process.exitCode = main();
