import { DEFAULT_ACCESS_KEYS } from '../../tools/fake-dysmsapi/fake-dysmsapi.js';

/** Settings for the Aliyun provider against the Dysmsapi double at `endpoint`, plus `extra`. */
export function aliyunEnv(endpoint: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    SMS_PROVIDER: 'aliyun',
    ALIYUN_SMS_ENDPOINT: endpoint,
    ALIBABA_CLOUD_ACCESS_KEY_ID: 'testAkId',
    ALIBABA_CLOUD_ACCESS_KEY_SECRET: DEFAULT_ACCESS_KEYS.testAkId as string,
    ALIYUN_SMS_SIGN_NAME: '阿里云短信测试',
    ALIYUN_SMS_TEMPLATE_CODE: 'SMS_154950909',
    ALIYUN_SMS_TIMEOUT_MS: '2000',
    ...extra,
  };
}
