import { Type } from '@sinclair/typebox';
import { DEFAULT_SCOPES, isScope, SCOPES, type Scope } from '../domain/access/scope.js';
import { CHANNEL_PATTERN } from '../domain/channels/channel.js';
import { commaList } from './comma-list.js';
import { ConfigError } from './config-error.js';
import { readJsonConfigFile } from './json-config-file.js';

/** A caller: its name goes into logs and audit events, its token never does. */
export interface ApiKey {
  readonly name: string;
  readonly token: string;
  /** Channels this key may use; undefined: every channel. */
  readonly channels: readonly string[] | undefined;
  /** What this key may do; `/metrics` and `/docs` need none. */
  readonly scopes: readonly Scope[];
}

const NAME = '^[A-Za-z0-9_.-]{1,64}$';
const MIN_TOKEN_LENGTH = 16;

const ApiKeysFile = Type.Array(
  Type.Object(
    {
      name: Type.String({ pattern: NAME }),
      token: Type.String({ minLength: MIN_TOKEN_LENGTH, maxLength: 256, pattern: '^[\\x21-\\x7e]+$' }),
      channels: Type.Optional(Type.Array(Type.String({ pattern: CHANNEL_PATTERN }), { minItems: 1 })),
      // Checked by name below, so that an unknown scope is reported as such.
      scopes: Type.Optional(Type.Array(Type.String(), { maxItems: SCOPES.length * 4 })),
    },
    { additionalProperties: false },
  ),
  { minItems: 1 },
);

/** `API_KEYS=name:token,name2:token2`: every key may use every channel, with the default scopes. */
export function parseApiKeys(text: string): ApiKey[] {
  const keys = commaList(text).map((part) => {
    const colon = part.indexOf(':');
    const name = colon > 0 ? part.slice(0, colon) : '';
    const token = colon > 0 ? part.slice(colon + 1) : '';
    if (!new RegExp(NAME).test(name) || token.length < MIN_TOKEN_LENGTH || /[^\x21-\x7e]/.test(token)) {
      // Never echo the entry: it holds a token.
      throw new ConfigError(
        'API_KEYS',
        `is invalid: each entry is name:token ([A-Za-z0-9_.-] name, printable token of at least ${MIN_TOKEN_LENGTH} characters)`,
      );
    }
    return { name, token, channels: undefined, scopes: DEFAULT_SCOPES };
  });
  return checkUnique('API_KEYS', keys);
}

/** `API_KEYS_FILE`: `[{"name": "shop", "token": "…", "channels": ["login"], "scopes": ["verify"]}]`. */
export function loadApiKeysFile(path: string): ApiKey[] {
  const entries = readJsonConfigFile('API_KEYS_FILE', path, ApiKeysFile);
  return checkUnique(
    'API_KEYS_FILE',
    entries.map((entry) => ({
      name: entry.name,
      token: entry.token,
      channels: entry.channels,
      scopes: entry.scopes === undefined ? DEFAULT_SCOPES : checkScopes(entry.name, entry.scopes),
    })),
  );
}

/** An empty list is allowed: such a key reads only the ops routes (a metrics scraper's key). */
function checkScopes(name: string, scopes: readonly string[]): Scope[] {
  const unknown = scopes.find((scope) => !isScope(scope));
  if (unknown !== undefined) {
    throw new ConfigError(
      'API_KEYS_FILE',
      `is invalid: key "${name}" has an unknown scope ${JSON.stringify(unknown.slice(0, 32))} (valid scopes: ${SCOPES.join(', ')})`,
    );
  }
  return [...new Set(scopes as Scope[])];
}

function checkUnique(variable: string, keys: ApiKey[]): ApiKey[] {
  const names = new Set(keys.map((key) => key.name));
  const tokens = new Set(keys.map((key) => key.token));
  if (names.size !== keys.length) throw new ConfigError(variable, 'is invalid: key names must be unique');
  if (tokens.size !== keys.length) throw new ConfigError(variable, 'is invalid: tokens must be unique');
  return keys;
}
