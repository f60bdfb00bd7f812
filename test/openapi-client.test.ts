import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { createSmsVerifyClient, type SmsVerifyClient } from '../clients/typescript/index.js';
import { EXAMPLE } from '../plugins/routes/v1/schemas.js';
import { startServer, type ServerProcess } from './support/node-process.js';

const TOKEN = 'client-test-token-0123456789';

/**
 * The generated client (clients/typescript) against the service as `npm start` runs it: in-memory store,
 * EXPOSE_CODE=true so the code comes back, one API key. The types are checked by `tsc` (npm test).
 */
describe('the generated TypeScript client', () => {
  let server: ServerProcess;
  let client: SmsVerifyClient;
  let baseUrl: string;
  beforeAll(async () => {
    server = startServer({ EXPOSE_CODE: 'true', API_KEYS: `shop:${TOKEN}` });
    baseUrl = await server.listening;
    client = createSmsVerifyClient({ baseUrl, token: TOKEN });
  });
  afterAll(async () => {
    server?.child.kill('SIGTERM');
    await server?.exited;
  });

  it('sends a code and checks it: approved once, then a typed 409 OTP_ALREADY_USED', async () => {
    const sent = await client.POST('/v1/verifications', { body: { phone: '138 0013 8000', channel: 'signup' } });
    expect(sent.response.status).toBe(201);
    expect(sent.data).toMatchObject({ phone: EXAMPLE.phone, channel: 'signup', expiresAt: expect.any(String) });
    const code = sent.data?.code;
    expect(code).toMatch(/^\d{4}$/);

    const wrong = String((Number(code) + 1) % 10_000).padStart(4, '0');
    const mismatch = await client.POST('/v1/verifications/check', { body: { phone: EXAMPLE.phone, channel: 'signup', code: wrong } });
    expect(mismatch.response.status).toBe(422);
    if (mismatch.error?.statusCode !== 422) throw new Error(`expected 422, got ${JSON.stringify(mismatch.error)}`);
    expectTypeOf(mismatch.error.code).toEqualTypeOf<'OTP_MISMATCH'>();
    expect(mismatch.error).toMatchObject({ code: 'OTP_MISMATCH', attemptsRemaining: expect.any(Number) });

    const approved = await client.POST('/v1/verifications/check', { body: { phone: EXAMPLE.phone, channel: 'signup', code: code ?? '' } });
    expect(approved.response.status).toBe(200);
    expect(approved.data).toEqual({ status: 'approved' });
    expectTypeOf(approved.data).toEqualTypeOf<{ status: 'approved' } | undefined>();

    const again = await client.POST('/v1/verifications/check', { body: { phone: EXAMPLE.phone, channel: 'signup', code: code ?? '' } });
    expect(again.data).toBeUndefined();
    expect(again.response.status).toBe(409);
    // The status narrows the error body to the codes that status can carry.
    if (again.error?.statusCode !== 409) throw new Error(`expected 409, got ${JSON.stringify(again.error)}`);
    expectTypeOf(again.error.code).toEqualTypeOf<'OTP_ALREADY_USED'>();
    expect(again.error).toEqual({ statusCode: 409, code: 'OTP_ALREADY_USED', error: 'Conflict', message: expect.any(String) });
  });

  it('answers a second send inside the resend interval with a typed 429 and its retry fields', async () => {
    const body = { phone: '+8613700137000', channel: 'login' };
    expect((await client.POST('/v1/verifications', { body })).response.status).toBe(201);
    const refused = await client.POST('/v1/verifications', { body });
    expect(refused.response.status).toBe(429);
    if (refused.error?.statusCode !== 429) throw new Error(`expected 429, got ${JSON.stringify(refused.error)}`);
    expectTypeOf(refused.error.code).toEqualTypeOf<
      'RATE_LIMITED' | 'PHONE_RATE_LIMITED' | 'IP_RATE_LIMITED' | 'GLOBAL_RATE_LIMITED' | 'PROVIDER_RATE_LIMITED'
    >();
    expectTypeOf(refused.error.retryAfter).toEqualTypeOf<number | undefined>();
    expect(refused.error).toMatchObject({ code: 'RATE_LIMITED', retryAfter: expect.any(Number), limit: 'channel:1/60s' });
    expect(refused.response.headers.get('retry-after')).toBe(String(refused.error.retryAfter));
  });

  it('without a token gets a typed 401 UNAUTHORIZED', async () => {
    const anonymous = createSmsVerifyClient({ baseUrl });
    const answer = await anonymous.POST('/v1/verifications', { body: { phone: '+8613600136000', channel: 'login' } });
    expect(answer.response.status).toBe(401);
    expect(answer.error?.code).toBe('UNAUTHORIZED');
  });

  it('types the request bodies (a missing field does not compile)', () => {
    const send = (body: { phone: string; channel: string }) => client.POST('/v1/verifications', { body });
    expectTypeOf(send).returns.resolves.toHaveProperty('data');
    // @ts-expect-error `channel` is required by the document
    const missing = (phone: string) => client.POST('/v1/verifications', { body: { phone } });
    // @ts-expect-error a phone is a string
    const numeric = (phone: number) => client.POST('/v1/verifications', { body: { phone, channel: 'login' } });
    expect([typeof missing, typeof numeric]).toEqual(['function', 'function']);
  });
});
