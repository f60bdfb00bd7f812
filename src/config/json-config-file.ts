import { readFileSync } from 'node:fs';
import type { Static, TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { ConfigError } from './config-error.js';

const READ_ERRORS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'it is a directory, not a file',
  ENOTDIR: 'a part of the path is not a directory',
  ELOOP: 'too many symbolic links',
};

/** Why a file could not be read, in words (`no such file`), from the error's code. */
export function describeReadError(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  return (code && READ_ERRORS[code]) ?? code ?? 'unreadable';
}

/**
 * Reads the JSON file a setting names and checks it against `schema`, naming the setting in any
 * error. A parse error is reported by its kind only: its message can quote the file (tokens).
 */
export function readJsonConfigFile<T extends TSchema>(variable: string, path: string, schema: T): Static<T> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(variable, `cannot be read (${path}): ${describeReadError(error)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ConfigError(variable, `is not valid JSON (${path})`);
  }
  const error = Value.Errors(schema, parsed).First();
  if (error) throw new ConfigError(variable, `is invalid at ${error.path || '/'}: ${error.message}`);
  return parsed as Static<T>;
}
