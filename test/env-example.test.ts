import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EnvSchema, loadConfig } from '../src/config/config.js';

/** `NAME=value` lines of .env.example (comments and blank lines skipped), in order. */
function exampleEntries(): Array<[string, string]> {
  return readFileSync(new URL('../.env.example', import.meta.url), 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'))
    .map((line) => {
      const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
      if (!match) throw new Error(`.env.example: not a NAME=value line: ${line}`);
      return [match[1] as string, match[2] as string];
    });
}

describe('.env.example', () => {
  it('lists exactly the variables the service reads, each once', () => {
    const names = exampleEntries().map(([name]) => name);
    expect(names.length, 'duplicates').toBe(new Set(names).size);
    expect([...names].sort()).toEqual(Object.keys(EnvSchema.properties).sort());
  });

  it('gives each variable its default, or leaves it empty when it has none', () => {
    const properties = EnvSchema.properties as Record<string, { default?: unknown }>;
    for (const [name, value] of exampleEntries()) {
      const fallback = properties[name]?.default;
      expect(value, name).toBe(fallback === undefined ? '' : String(fallback));
    }
  });

  it('loads as the same configuration as an empty environment', () => {
    expect(loadConfig(Object.fromEntries(exampleEntries()))).toEqual(loadConfig({}));
  });
});
