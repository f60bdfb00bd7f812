import type { Static, TSchema } from '@sinclair/typebox';
import { Value, type ValueError } from '@sinclair/typebox/value';
import { ConfigProblems } from './config-error.js';

/** Variables whose value never appears in a message. */
const SECRET_VARIABLES = new Set([
  'API_KEYS',
  'REDIS_PASSWORD',
  'CODE_SECRET',
  'REDIS_URL',
  'ALIBABA_CLOUD_ACCESS_KEY_SECRET',
  'ALIBABA_CLOUD_SECURITY_TOKEN',
  'ALIYUN_RECEIPT_TOKEN',
  'TEST_PHONES',
]);

type ObjectSchema = TSchema & { properties: Record<string, TSchema> };

/**
 * Picks the schema's variables out of `source` (empty counts as unset), converts, defaults and checks
 * them. Every bad variable goes into `problems` (one line each) and reads as its default, so the later
 * checks still run and report theirs; without `problems`, the first bad variables throw at once.
 */
export function readEnv<T extends ObjectSchema>(schema: T, source: Record<string, string | undefined>, problems?: ConfigProblems): Static<T> {
  const own = problems ?? new ConfigProblems();
  const picked: Record<string, string> = {};
  for (const [name, property] of Object.entries(schema.properties)) {
    const value = source[name];
    if (value === undefined || value === '') continue;
    // TypeBox's Convert truncates "1.5" to 1; an integer setting must be written as one.
    if (property.type === 'integer' && !/^-?\d+$/.test(value.trim())) {
      own.add(name, `is invalid: expected ${expected(property) ?? 'an integer'}${shown(name, value)}`);
      continue;
    }
    picked[name] = value;
  }
  const read = () => Value.Default(schema, Value.Convert(schema, { ...picked })) as Static<T>;
  let value = read();
  const bad = new Set<string>();
  for (const error of Value.Errors(schema, value)) {
    const variable = error.path.replace(/^\//, '').split('/')[0] ?? '';
    if (bad.has(variable)) continue;
    bad.add(variable);
    own.add(variable || '(environment)', `is invalid: ${describe(schema.properties[variable], error)}${shown(variable, picked[variable])}`);
  }
  if (bad.size > 0) {
    for (const variable of bad) delete picked[variable];
    value = read();
  }
  if (!problems) own.throwIfAny();
  return value;
}

function shown(variable: string, raw: string | undefined): string {
  return raw === undefined || SECRET_VARIABLES.has(variable) ? '' : ` (got ${JSON.stringify(raw)})`;
}

/** What a valid value looks like, from the schema, or TypeBox's own words. */
function describe(property: TSchema | undefined, error: ValueError): string {
  const wanted = property && expected(property);
  return wanted ? `expected ${wanted}` : error.message;
}

function expected(property: TSchema): string | undefined {
  const choices = (property.anyOf as TSchema[] | undefined)?.map((option) => option.const);
  if (choices && choices.every((choice) => typeof choice === 'string')) return `one of ${choices.join(', ')}`;
  if (property.type === 'boolean') return 'true or false';
  if (property.type === 'integer') {
    const { minimum, maximum } = property as { minimum?: number; maximum?: number };
    if (minimum !== undefined && maximum !== undefined) return `an integer from ${minimum} to ${maximum}`;
    if (minimum !== undefined) return `an integer of at least ${minimum}`;
    return 'an integer';
  }
  return undefined;
}
