import { Type, type Static } from '@sinclair/typebox';
import { CHANNEL_PATTERN } from '../domain/channels/channel.js';
import { ConfigError } from './config-error.js';
import { readJsonConfigFile } from './json-config-file.js';
import type { SendWindow } from '../domain/limits/send-window.js';
import { parseSendLimits } from './send-limits.js';

/**
 * `CHANNELS_FILE`: a JSON object from channel name to the settings that differ
 * for it. Channels not in the file use the service-wide defaults.
 *
 * ```json
 * { "login": { "templateCode": "SMS_100", "codeLength": 6 },
 *   "vip":   { "signName": "VIP", "templateCode": "SMS_200", "templateVariable": "otp", "sendLimits": "1/2m,3/1d" } }
 * ```
 */
const ChannelFileEntry = Type.Object(
  {
    signName: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    templateCode: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' })),
    templateVariable: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_]{1,32}$' })),
    codeLength: Type.Optional(Type.Integer({ minimum: 4, maximum: 10 })),
    codeTtlSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
    maxVerifyAttempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    sendLimits: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

const ChannelsFile = Type.Record(Type.String({ pattern: CHANNEL_PATTERN }), ChannelFileEntry, {
  additionalProperties: false,
});

type ChannelFileEntry = Static<typeof ChannelFileEntry>;

export interface ChannelOverride {
  readonly signName?: string;
  readonly templateCode?: string;
  readonly templateVariable?: string;
  readonly codeLength?: number;
  readonly codeTtlMs?: number;
  readonly maxVerifyAttempts?: number;
  readonly sendLimits?: readonly SendWindow[];
}

export function loadChannelsFile(path: string): Record<string, ChannelOverride> {
  const entries = Object.entries(readJsonConfigFile('CHANNELS_FILE', path, ChannelsFile));
  return Object.fromEntries(entries.map(([channel, entry]) => [channel, toOverride(channel, entry)]));
}

function toOverride(channel: string, entry: ChannelFileEntry): ChannelOverride {
  const limits = entry.sendLimits === undefined ? undefined : parseSendLimits(entry.sendLimits);
  if (typeof limits === 'string') throw new ConfigError('CHANNELS_FILE', `is invalid at /${channel}/sendLimits: ${limits}`);
  return Object.fromEntries(
    Object.entries({
      signName: entry.signName,
      templateCode: entry.templateCode,
      templateVariable: entry.templateVariable,
      codeLength: entry.codeLength,
      codeTtlMs: entry.codeTtlSeconds === undefined ? undefined : entry.codeTtlSeconds * 1000,
      maxVerifyAttempts: entry.maxVerifyAttempts,
      sendLimits: limits,
    }).filter(([, value]) => value !== undefined),
  );
}
