import type { FastifyInstance } from 'fastify';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../plugins/app.js';
import { loadConfig } from '../src/config/config.js';
import { spawnNginx, type NginxOptions, type SpawnedNginx } from './support/nginx.js';
import { RecordingSmsProvider } from './support/recording-sms.js';
import { freePort } from './support/redis-server.js';
import { requireRedisUrl, uniquePrefix } from './support/stores.js';

interface Instance {
  readonly app: FastifyInstance;
  readonly sms: RecordingSmsProvider;
  readonly port: number;
  /** Requests this instance has received. */
  readonly handled: number;
}

interface Answer {
  readonly status: number;
  readonly body: any;
}

/** One HTTP call from a chosen loopback address, as a distinct client would make it, with its response headers. */
function exchange(
  port: number,
  path: string,
  body: object,
  from = '127.0.0.1',
  headers: Record<string, string> = {},
): Promise<Answer & { headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        localAddress: from,
        agent: false,
        headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text), headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

async function call(port: number, path: string, body: object, from = '127.0.0.1', headers: Record<string, string> = {}): Promise<Answer> {
  const { status, body: answer } = await exchange(port, path, body, from, headers);
  return { status, body: answer };
}

describe('two instances on one Redis behind nginx', () => {
  const instances: Instance[] = [];
  let nginx: SpawnedNginx;
  const prefix = uniquePrefix();

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) {
      const config = loadConfig({
        LOG_LEVEL: 'silent',
        REDIS_URL: requireRedisUrl(),
        REDIS_PREFIX: prefix,
        TRUST_PROXY: '127.0.0.1',
        IP_SEND_LIMITS: '3/1h',
        PHONE_SEND_LIMITS: 'off',
      });
      const sms = new RecordingSmsProvider();
      const app = await buildApp(config, { logger: false, sms });
      const counter = { handled: 0 };
      app.addHook('onRequest', async () => {
        counter.handled += 1;
      });
      await app.listen({ port: 0, host: '127.0.0.1' });
      const address = app.server.address();
      instances.push({
        app,
        sms,
        port: typeof address === 'object' && address ? address.port : 0,
        get handled() {
          return counter.handled;
        },
      });
    }
    nginx = await spawnNginx(await freePort(), instances.map((i) => i.port));
  }, 30_000);

  afterAll(async () => {
    await nginx?.stop();
    await Promise.all(instances.map((i) => i.app.close()));
  });

  const codeFor = (phone: string): string => {
    for (const instance of instances) {
      const message = [...instance.sms.messages].reverse().find((m) => m.phone.e164 === phone);
      if (message) return message.templateParam.code as string;
    }
    throw new Error(`no code sent to ${phone}`);
  };

  it('verifies through one instance a code sent through the other', async () => {
    const [a, b] = instances as [Instance, Instance];
    expect((await call(a.port, '/v1/verifications', { phone: '13800000001', channel: 'login' })).status).toBe(201);
    const code = a.sms.lastCode('+8613800000001');
    expect(await call(b.port, '/v1/verifications/check', { phone: '13800000001', channel: 'login', code })).toEqual({
      status: 200,
      body: { status: 'approved' },
    });
    expect((await call(a.port, '/v1/verifications/check', { phone: '13800000001', channel: 'login', code })).status).toBe(409);
  });

  it('holds the send limit and single approval across both instances under concurrent load', async () => {
    const before = instances.map((i) => i.handled);
    const sends = await Promise.all(
      Array.from({ length: 40 }, (_, i) => call(nginx.port, '/v1/verifications', { phone: '13800000002', channel: 'login' }, `127.0.1.${i + 1}`)),
    );
    expect(sends.filter((r) => r.status === 201)).toHaveLength(1);
    expect(sends.filter((r) => r.status === 429).every((r) => r.body.code === 'RATE_LIMITED')).toBe(true);
    const code = codeFor('+8613800000002');
    const checks = await Promise.all(
      Array.from({ length: 40 }, () => call(nginx.port, '/v1/verifications/check', { phone: '13800000002', channel: 'login', code })),
    );
    expect(checks.filter((r) => r.status === 200)).toHaveLength(1);
    expect(checks.filter((r) => r.status === 409)).toHaveLength(39);
    // nginx spread the load over both instances.
    instances.forEach((instance, i) => expect(instance.handled - (before[i] as number)).toBeGreaterThan(10));
  });

  it('sees each client address through the proxy and limits per IP', async () => {
    for (let i = 0; i < 3; i++) {
      expect((await call(nginx.port, '/v1/verifications', { phone: `1390000000${i}`, channel: 'ip' }, '127.0.0.2')).status).toBe(201);
    }
    const refused = await call(nginx.port, '/v1/verifications', { phone: '13900000009', channel: 'ip' }, '127.0.0.2');
    expect(refused.status).toBe(429);
    expect(refused.body.code).toBe('IP_RATE_LIMITED');
    expect((await call(nginx.port, '/v1/verifications', { phone: '13900000009', channel: 'ip' }, '127.0.0.3')).status).toBe(201);
    const events = (await instances[0]!.app.store.audit.page({ channel: 'ip' }, { limit: 10 })).events;
    expect(events.map((e) => e.fields.ip)).toEqual(['127.0.0.2', '127.0.0.2', '127.0.0.2', '127.0.0.2', '127.0.0.3']);
  });
});

describe.each<NginxOptions['forwardedFor']>(['append', 'replace'])('one instance behind nginx (X-Forwarded-For: %s) with TRUST_PROXY=1', (forwardedFor) => {
  let app: FastifyInstance;
  let nginx: SpawnedNginx;

  beforeAll(async () => {
    const config = loadConfig({ LOG_LEVEL: 'silent', TRUST_PROXY: '1', IP_SEND_LIMITS: '3/1h', PHONE_SEND_LIMITS: 'off' });
    app = await buildApp(config, { logger: false, sms: new RecordingSmsProvider() });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    nginx = await spawnNginx(await freePort(), [typeof address === 'object' && address ? address.port : 0], { forwardedFor });
  }, 30_000);

  afterAll(async () => {
    await nginx?.stop();
    await app?.close();
  });

  it('gives each client its own per-IP bucket and audit ip, whatever X-Forwarded-For the client itself sends', async () => {
    const send = (phone: string, from: string, i: number) =>
      call(nginx.port, '/v1/verifications', { phone, channel: 'login' }, from, { 'x-forwarded-for': `203.0.113.${i}` });
    for (let i = 0; i < 3; i++) expect((await send(`1390000000${i}`, '127.0.0.2', i)).status).toBe(201);
    // A fresh forged address on every try does not buy the client a fresh bucket.
    const refused = await send('13900000009', '127.0.0.2', 9);
    expect(refused).toMatchObject({ status: 429, body: { code: 'IP_RATE_LIMITED' } });
    expect((await send('13900000009', '127.0.0.3', 10)).status).toBe(201);
    const events = (await app.store.audit.page({ channel: 'login' }, { limit: 10 })).events;
    expect(events.map((e) => e.fields.ip)).toEqual(['127.0.0.2', '127.0.0.2', '127.0.0.2', '127.0.0.2', '127.0.0.3']);
  });

  it('keeps the X-Request-Id the proxy passes on: the same trust decision as the address', async () => {
    const res = await exchange(nginx.port, '/v1/verifications', { phone: '13900000010', channel: 'login' }, '127.0.0.4', {
      'x-request-id': 'edge-7f3a',
    });
    expect(res.status).toBe(201);
    expect(res.headers['x-request-id']).toBe('edge-7f3a');
  });
});
