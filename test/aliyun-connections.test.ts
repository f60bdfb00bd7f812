import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '../src/domain/logger.js';
import { parsePhone } from '../src/domain/phones/phone.js';
import { AliyunSmsProvider } from '../src/providers/aliyun/aliyun-provider.js';
import type { SmsMessage } from '../src/domain/sms-provider.js';
import { DEFAULT_ACCESS_KEYS, FakeDysmsapi } from '../tools/fake-dysmsapi/fake-dysmsapi.js';

/**
 * Connection reuse through the real Aliyun SDK: the double counts the TCP connections it accepts.
 * (The SDK's HTTP layer, httpx, sends through one keep-alive agent per process; `RuntimeOptions.keepAlive`
 * is not forwarded by @alicloud/openapi-core, and @darabonba/typescript would build a new agent per request
 * if it were, so the provider leaves it unset. See bench/README.md.)
 */
const silent: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
const parsed = parsePhone('13800138000');
if (!parsed.ok) throw new Error('test phone did not parse');
const phone = parsed.phone;

function message(n: number): SmsMessage {
  return { phone, signName: '阿里云短信测试', templateCode: 'SMS_154950909', templateParam: { code: '123456' }, outId: `conn-${n}` };
}

describe('AliyunSmsProvider reuses provider connections (real SDK against FakeDysmsapi)', () => {
  let fake: FakeDysmsapi;
  let provider: AliyunSmsProvider;

  beforeAll(async () => {
    fake = await FakeDysmsapi.start();
    provider = new AliyunSmsProvider({ endpoint: fake.url, accessKeyId: 'testAkId', accessKeySecret: DEFAULT_ACCESS_KEYS.testAkId, timeoutMs: 5000, logger: silent });
  });
  afterAll(async () => {
    await provider.close();
    await fake.close();
  });

  it('N sequential sends open fewer than N connections (one, kept alive)', async () => {
    const before = fake.connectionsAccepted;
    const n = 20;
    for (let i = 0; i < n; i++) expect(await provider.send(message(i))).toMatchObject({ ok: true });
    expect(fake.sends().length).toBeGreaterThanOrEqual(n);
    const opened = fake.connectionsAccepted - before;
    expect(opened).toBeGreaterThan(0);
    expect(opened).toBeLessThan(n);
    expect(opened).toBe(1);
  });

  it('bursts of concurrent sends reuse the connections the first burst opened', async () => {
    const before = fake.connectionsAccepted;
    const burst = 8;
    for (let round = 0; round < 3; round++) {
      const outcomes = await Promise.all(Array.from({ length: burst }, (_, i) => provider.send(message(100 + round * burst + i))));
      for (const outcome of outcomes) expect(outcome).toMatchObject({ ok: true });
    }
    // 24 sends, at most 8 at a time: at most 8 connections (the idle one from the test above may serve one).
    expect(fake.connectionsAccepted - before).toBeLessThanOrEqual(burst);
  });
});
