import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../../functions/runtime/config.js';

describe('Shipped configuration files', () => {
  const files = readdirSync('config').filter((f) => f.endsWith('.json'));
  it('exist', () => expect(files.length).toBeGreaterThan(0));
  it.each(files)('config/%s is valid against the schema', (file) => {
    expect(() => loadConfigFile(`config/${file}`)).not.toThrow();
  });
});
