import { afterEach, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from './support/app.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('request ids', () => {
  let t: TestApp;
  let logLines: string[];
  afterEach(async () => {
    await t?.close();
  });

  async function start(env: Record<string, string> = {}) {
    logLines = [];
    t = await buildTestApp('memory', env, { logLines });
  }

  /** A send whose SMS fails, so the domain service logs a line of its own during the request. */
  async function failingSend(headers: Record<string, string>, remoteAddress?: string) {
    t.sms.failNext();
    const res = await t.app.inject({
      method: 'POST',
      url: '/v1/verifications',
      payload: { phone: '13800000000', channel: 'login' },
      headers,
      ...(remoteAddress ? { remoteAddress } : {}),
    });
    expect(res.statusCode).toBe(502);
    return res;
  }

  const parsedLines = () => logLines.map((line) => JSON.parse(line) as { reqId?: string; msg?: string });

  /** The request's own lines (Fastify's, the route's and the service's) all carry `id`, and only they do. */
  function expectEveryLineCarries(id: string) {
    const lines = parsedLines().filter((line) => line.reqId !== undefined);
    expect(lines.map((line) => line.msg)).toEqual(
      expect.arrayContaining(['incoming request', 'verification code SMS not sent', 'request completed']),
    );
    for (const line of lines) expect(line.reqId).toBe(id);
    const serviceLine = parsedLines().find((line) => line.msg === 'verification code SMS not sent');
    expect(serviceLine?.reqId).toBe(id);
  }

  it('ignores X-Request-Id without TRUST_PROXY: a fresh id, in the header and on every log line', async () => {
    await start();
    const res = await failingSend({ 'x-request-id': 'from-the-client-1' });
    const id = res.headers['x-request-id'] as string;
    expect(id).toMatch(UUID);
    expectEveryLineCarries(id);
    expect(logLines.join('\n')).not.toContain('from-the-client-1');
  });

  it('uses X-Request-Id from a trusted proxy (TRUST_PROXY=true; inject comes from 127.0.0.1)', async () => {
    await start({ TRUST_PROXY: 'true' });
    const res = await failingSend({ 'x-request-id': 'edge-42:a.b_c' });
    expect(res.headers['x-request-id']).toBe('edge-42:a.b_c');
    expectEveryLineCarries('edge-42:a.b_c');
  });

  it('trusts by hop count and by address, as Fastify does for X-Forwarded-For', async () => {
    await start({ TRUST_PROXY: '10.0.0.0/8' });
    const fromProxy = await failingSend({ 'x-request-id': 'via-proxy' }, '10.1.2.3');
    expect(fromProxy.headers['x-request-id']).toBe('via-proxy');
    const direct = await failingSend({ 'x-request-id': 'direct' }, '192.0.2.7');
    expect(direct.headers['x-request-id']).toMatch(UUID);
    await t.close();
    await start({ TRUST_PROXY: '1' });
    expect((await failingSend({ 'x-request-id': 'one-hop' })).headers['x-request-id']).toBe('one-hop');
  });

  it.each([
    ['spaces', 'has spaces in it'],
    ['quotes and braces', '{"reqId":"x"}'],
    ['too long', 'a'.repeat(129)],
    ['non-ASCII', 'ид-запроса'],
  ])('ignores a malformed X-Request-Id (%s) even from a trusted proxy', async (_name, header) => {
    await start({ TRUST_PROXY: 'true' });
    const res = await t.app.inject({
      method: 'GET',
      url: '/healthz',
      headers: { 'x-request-id': header },
    });
    expect(res.headers['x-request-id']).toMatch(UUID);
  });

  it('echoes the id on every answer, errors and unknown routes included', async () => {
    await start();
    const ids = new Set<string>();
    for (const request of [
      { method: 'GET' as const, url: '/healthz' },
      { method: 'GET' as const, url: '/no-such-route' },
      { method: 'POST' as const, url: '/v1/verifications', payload: { phone: 'x' } },
    ]) {
      const res = await t.app.inject(request);
      expect(res.headers['x-request-id']).toMatch(UUID);
      ids.add(res.headers['x-request-id'] as string);
    }
    expect(ids.size).toBe(3);
  });
});
