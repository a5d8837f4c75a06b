import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { printSdl } from '../../src/graphql/emit-schema.js';

describe('schema.graphql', () => {
  it('matches the schema the code builds (run `npm run schema` after changing it)', async () => {
    const committed = await readFile(new URL('../../schema.graphql', import.meta.url), 'utf8');
    expect(committed).toBe(await printSdl());
  });

  it('names the contract scalars DateTime and JSONObject-ready types', async () => {
    const sdl = await printSdl();
    expect(sdl).toContain('scalar DateTime');
    expect(sdl).not.toContain('DateTimeISO');
  });
});
