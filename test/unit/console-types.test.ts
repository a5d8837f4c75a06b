import { readFileSync } from 'node:fs';
import { generate, loadCodegenConfig } from '@graphql-codegen/cli';
import { describe, expect, it } from 'vitest';

const CONFIG = 'src/console/web/codegen.yml';

describe("the console's operation types", () => {
  it('are what GraphQL Code Generator makes of schema.graphql and the console’s documents now (npm run console:types)', async () => {
    const { config } = await loadCodegenConfig({ configFilePath: CONFIG });
    // An operation that no longer matches the schema fails here too: codegen validates every document.
    const outputs = await generate({ ...config, cwd: process.cwd(), silent: true }, false);
    expect(outputs).toHaveLength(1);
    expect(outputs[0]!.content, 'src/console/web/graphql.ts is stale: run npm run console:types').toBe(readFileSync(outputs[0]!.filename, 'utf8'));
  });
});
