import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));
const IMPORT = /^(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/gm;

/** Every module under src/ and the modules it imports (type-only imports included). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) {
        const text = readFileSync(path, 'utf8');
        const deps = [...text.matchAll(IMPORT)].map((m) => relative(SRC, normalize(join(dirname(path), m[1]!))).replace(/\.js$/, '.ts'));
        graph.set(relative(SRC, path), deps);
      }
    }
  };
  walk(SRC);
  return graph;
}

describe('architecture', () => {
  const graph = importGraph();

  it('has no import cycle', () => {
    const cycles: string[][] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (module: string) => {
      state.set(module, 'open');
      stack.push(module);
      for (const dep of graph.get(module) ?? []) {
        if (!graph.has(dep)) continue;
        if (state.get(dep) === 'open') cycles.push([...stack.slice(stack.indexOf(dep)), dep]);
        else if (!state.has(dep)) visit(dep);
      }
      stack.pop();
      state.set(module, 'done');
    };
    for (const module of graph.keys()) if (!state.has(module)) visit(module);
    expect(cycles).toEqual([]);
    expect(graph.size).toBeGreaterThan(50);
  });

  it('keeps the domain folders free of the server and GraphQL layers', () => {
    const leaks = [...graph].flatMap(([module, deps]) =>
      /^(keys|auth|audit|throttle|db)\//.test(module) ? deps.filter((dep) => /^(server|graphql)\//.test(dep)).map((dep) => `${module} → ${dep}`) : [],
    );
    expect(leaks).toEqual([]);
  });
});
