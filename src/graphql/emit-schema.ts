import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { lexicographicSortSchema, printSchema } from 'graphql';
import { createSchema } from './schema.js';

/** The SDL committed as schema.graphql: sorted, so it changes only when the schema does. */
export async function printSdl(): Promise<string> {
  const schema = await createSchema();
  return `# Generated from the code by \`npm run schema\`. Do not edit.\n\n${printSchema(lexicographicSortSchema(schema))}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const target = process.argv[2] ?? 'schema.graphql';
  await writeFile(target, await printSdl());
  process.stdout.write(`wrote ${target}\n`);
}
