import type { ChannelOverride } from './channels-file.js';
import type { ConfigProblems } from './config-error.js';
import { parseDuration } from './duration.js';
import { parseTestPhones, testPhonesWarning, type TestPhones } from './test-phones.js';

/** The settings of verifications as resources (issue 12): retention, delivery receipts, test phones. */
export interface LifecycleSettings {
  /** `VERIFICATION_RETENTION`: how long a verification can be fetched after it was created. */
  readonly verificationRetentionMs: number;
  /** `ALIYUN_RECEIPT_TOKEN`: the secret path segment of the delivery-receipt route; undefined: no such route. */
  readonly receiptToken: string | undefined;
  /** `TEST_PHONES`; undefined: none. */
  readonly testPhones: TestPhones | undefined;
}

/** Reads them, reporting each bad one into `problems`; `warnings` gets the production warning of TEST_PHONES. */
export function lifecycleSettings(
  env: {
    VERIFICATION_RETENTION: string;
    ALIYUN_RECEIPT_TOKEN?: string | undefined;
    TEST_PHONES?: string | undefined;
    CODE_LENGTH: number;
    CODE_TTL_SECONDS: number;
  },
  channels: Readonly<Record<string, ChannelOverride>>,
  production: boolean,
  problems: ConfigProblems,
): LifecycleSettings & { readonly warnings: readonly string[] } {
  const retentionMs = parseDuration(env.VERIFICATION_RETENTION);
  // A verification must outlive its code: its status, cancel and delivery report act on it.
  const longestTtlMs = Math.max(env.CODE_TTL_SECONDS * 1000, ...Object.values(channels).map((c) => c.codeTtlMs ?? 0));
  if (retentionMs === undefined || retentionMs < 60_000) {
    problems.add('VERIFICATION_RETENTION', `is invalid: expected a duration of at least 1m such as 24h or 7d (got ${JSON.stringify(env.VERIFICATION_RETENTION)})`);
  } else if (retentionMs < longestTtlMs) {
    problems.add('VERIFICATION_RETENTION', `is invalid: it must be at least the longest code TTL (${longestTtlMs / 1000} s, CODE_TTL_SECONDS or a CHANNELS_FILE codeTtlSeconds), so a verification outlives its code`);
  }
  if (env.ALIYUN_RECEIPT_TOKEN !== undefined && !/^[A-Za-z0-9_.~-]{16,256}$/.test(env.ALIYUN_RECEIPT_TOKEN)) {
    problems.add('ALIYUN_RECEIPT_TOKEN', 'is invalid: expected 16 to 256 URL-safe characters (letters, digits, - _ . ~), e.g. openssl rand -hex 24');
  }
  const testPhones = problems.attempt(
    () => (env.TEST_PHONES === undefined ? undefined : parseTestPhones(env.TEST_PHONES, env.CODE_LENGTH, channels)),
    undefined,
  );
  return {
    verificationRetentionMs: retentionMs ?? 0,
    receiptToken: env.ALIYUN_RECEIPT_TOKEN,
    testPhones,
    // Allowed in production, where nobody should be surprised by them.
    warnings: testPhones && production ? [testPhonesWarning(testPhones)] : [],
  };
}
