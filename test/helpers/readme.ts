import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface CodeBlock {
  /** 1-based line of the opening fence. */
  line: number;
  info: string;
  code: string;
}

/** Every fenced code block of a Markdown text (``` or ~~~ fences, CommonMark rules for closing). */
export function codeBlocks(markdown: string): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i += 1) {
    const open = /^ {0,3}(`{3,}|~{3,})(.*)$/.exec(lines[i]!);
    if (!open || (open[1]![0] === '`' && open[2]!.includes('`'))) continue;
    const fence = open[1]!;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j += 1) {
      const close = /^ {0,3}(`{3,}|~{3,})\s*$/.exec(lines[j]!);
      if (close && close[1]![0] === fence[0] && close[1]!.length >= fence.length) break;
      body.push(lines[j]!);
    }
    blocks.push({ line: i + 1, info: open[2]!.trim(), code: body.join('\n') });
    i = j;
  }
  return blocks;
}

/** Blocks whose info string is `sh` followed by the word `tested`: the README's runnable commands. */
export function testedShellBlocks(markdown: string): CodeBlock[] {
  return codeBlocks(markdown).filter((block) => {
    const words = block.info.split(/\s+/);
    return words[0] === 'sh' && words.includes('tested');
  });
}

/**
 * Environment variables the code reads: `env.NAME`, `env['NAME']` (process.env or a passed-in
 * env alike) and config.ts's `int(env, 'NAME', …)` / `bool(env, 'NAME', …)` helpers.
 */
export function environmentVariablesRead(dir: string): Map<string, string> {
  const found = new Map<string, string>();
  const patterns = [
    /\benv\.([A-Z][A-Z0-9_]*)\b/g,
    /\benv\[\s*['"]([A-Z][A-Z0-9_]*)['"]\s*\]/g,
    /\(\s*env\s*,\s*['"]([A-Z][A-Z0-9_]*)['"]/g,
  ];
  for (const file of sourceFiles(dir)) {
    const text = readFileSync(file, 'utf8');
    for (const pattern of patterns) {
      for (const match of text.matchAll(pattern)) if (!found.has(match[1]!)) found.set(match[1]!, file);
    }
  }
  return found;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.ts$/.test(name) ? [path] : [];
  });
}

/** The names in the first column (`NAME`) of the table under the `## <heading>` section. */
export function tableVariables(markdown: string, heading: string): string[] | null {
  const start = markdown.search(new RegExp(`^## ${heading}\\s*$`, 'm'));
  if (start < 0) return null;
  const rest = markdown.slice(start + 3);
  const end = rest.search(/^## /m);
  const section = end < 0 ? rest : rest.slice(0, end);
  return [...section.matchAll(/^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|/gm)].map((match) => match[1]!);
}
