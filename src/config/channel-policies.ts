import type { ChannelPolicies, ChannelPolicy } from '../domain/channels/channel-policy.js';
import type { NoticeTemplatePolicy } from '../domain/verification/types.js';
import type { Config } from './config.js';

/** The template the `log` provider names when none is configured. */
export const LOG_TEMPLATE_CODE = 'verification-code';

/** The service-wide defaults, overridden per channel by `CHANNELS_FILE`. */
export function channelPolicies(config: Config): ChannelPolicies {
  const defaults: ChannelPolicy = {
    codeLength: config.codeLength,
    codeTtlMs: config.codeTtlMs,
    sendLimits: config.sendLimits,
    maxVerifyAttempts: config.maxVerifyAttempts,
    signName: config.aliyun.signName,
    templateCode: config.aliyun.templateCode ?? LOG_TEMPLATE_CODE,
    templateVariable: 'code',
  };
  const overridden = new Map(
    Object.entries(config.channels).map(([channel, override]) => [channel, { ...defaults, ...override }]),
  );
  return { forChannel: (channel) => overridden.get(channel) ?? defaults };
}

/**
 * The templates notices may not use: the verification template (ALIYUN_SMS_TEMPLATE_CODE, or the log
 * provider's) and every channel's from CHANNELS_FILE; and NOTICE_TEMPLATES, the only ones they may.
 */
export function noticeTemplatePolicy(config: Config): NoticeTemplatePolicy {
  const verification = [config.aliyun.templateCode ?? LOG_TEMPLATE_CODE, ...Object.values(config.channels).map((c) => c.templateCode)];
  return {
    verificationTemplates: new Set(verification.filter((code): code is string => code !== undefined)),
    allowed: config.noticeTemplates,
  };
}
