import { readFileSync } from 'node:fs';
import type { Static, TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { ConfigError } from './config-error.js';

/**
 * Reads the JSON file a setting names and checks it against `schema`, naming the setting in any
 * error. A parse error is reported by its kind only: its message can quote the file (tokens).
 */
export function readJsonConfigFile<T extends TSchema>(variable: string, path: string, schema: T): Static<T> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError(variable, `cannot be read as JSON (${path}): ${(error as Error).name}`);
  }
  const error = Value.Errors(schema, parsed).First();
  if (error) throw new ConfigError(variable, `is invalid at ${error.path || '/'}: ${error.message}`);
  return parsed as Static<T>;
}
