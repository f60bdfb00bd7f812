import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Errors } from '../plugins/hooks/errors.js';
import { buildTestApp, type TestApp } from './support/app.js';

/** Every (METHOD path) the app serves, read from Fastify's own route tree, HEAD aside; parameters as OpenAPI writes them (`{id}`). */
function appRoutes(app: FastifyInstance): string[] {
  const routes: string[] = [];
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^((?:│ {3}| {4})*)(?:├── |└── )(.+?) \(([^)]+)\)$/.exec(line);
    if (!match) continue;
    const depth = (match[1] as string).length / 4;
    const path = (stack[depth - 1] ?? '') + (match[2] as string);
    stack[depth] = path;
    stack.length = depth + 1;
    const documented = path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
    for (const method of (match[3] as string).split(', ')) if (method !== 'HEAD') routes.push(`${method} ${documented}`);
  }
  return routes;
}

const EXPECTED = [
  'GET /healthz',
  'GET /readyz',
  'GET /metrics',
  'POST /sms_message/getVerificationCode',
  'POST /sms_message/verify_code',
  'POST /sms_message/sendNotice',
  'POST /v1/verifications',
  'POST /v1/verifications/check',
  'GET /v1/verifications/{id}',
  'POST /v1/verifications/{id}/cancel',
  'POST /v1/notifications',
  'GET /v1/audit',
];

describe('OpenAPI document and UI', () => {
  let t: TestApp;
  let doc: any;
  beforeAll(async () => {
    t = await buildTestApp('memory');
    const res = await t.app.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    doc = res.json();
  });
  afterAll(async () => {
    await t?.close();
  });

  const operations = (): string[] =>
    Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, item]) =>
      Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
    );

  it('is OpenAPI 3 with a title, version and description', () => {
    expect(doc.openapi).toMatch(/^3\.\d+\.\d+$/);
    expect(doc.info).toMatchObject({ title: expect.any(String), version: expect.stringMatching(/^\d+\.\d+\.\d+/) });
    expect(doc.info.description).toContain('/sms_message');
  });

  it('lists every route the app serves (the UI\'s own aside), and nothing else', () => {
    const served = appRoutes(t.app).filter((route) => !/ \/docs(\/|$)/.test(route));
    expect(served).toEqual(expect.arrayContaining(EXPECTED));
    expect(operations().sort()).toEqual(served.sort());
  });

  it('describes the bearer scheme, required on the APIs and not on health or readiness', () => {
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.security).toEqual([{ bearerAuth: [] }]);
    expect(doc.paths['/healthz'].get.security).toEqual([]);
    expect(doc.paths['/readyz'].get.security).toEqual([]);
    for (const path of ['/v1/verifications', '/sms_message/verify_code']) expect(doc.paths[path].post.security).toBeUndefined();
  });

  it('tags every operation v1, legacy, audit or ops', () => {
    expect(doc.tags.map((tag: { name: string }) => tag.name).sort()).toEqual(['audit', 'legacy', 'ops', 'v1']);
    expect(doc.paths['/v1/verifications'].post.tags).toEqual(['v1']);
    expect(doc.paths['/sms_message/getVerificationCode'].post.tags).toEqual(['legacy']);
    expect(doc.paths['/v1/audit'].get.tags).toEqual(['audit']);
    expect(doc.paths['/metrics'].get.tags).toEqual(['ops']);
    for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, { tags?: string[] }>>)) {
      for (const operation of Object.values(item)) expect(operation.tags, path).toHaveLength(1);
    }
  });

  it('lists every v1 error code with its status, per route', () => {
    const text = JSON.stringify(doc);
    for (const ErrorClass of Object.values(Errors)) {
      const error = new ErrorClass();
      expect(text).toContain(`| ${error.statusCode} | \`${error.code}\` |`);
    }
    const check = doc.paths['/v1/verifications/check'].post.description as string;
    expect(check).toContain('| 422 | `OTP_MISMATCH` |');
    expect(check).toContain('| 429 | `VERIFY_RATE_LIMITED` |');
    expect(check).not.toContain('`RATE_LIMITED`');
    expect(doc.paths['/v1/verifications'].post.description).toContain('| 429 | `RATE_LIMITED` |');
  });

  it('documents the legacy bodies without validating them', async () => {
    const body = doc.paths['/sms_message/getVerificationCode'].post.requestBody.content['application/json'].schema;
    expect(Object.keys(body.properties)).toEqual(['phone', 'channel']);
    expect(doc.paths['/sms_message/sendNotice'].post.requestBody.content['application/json'].schema.properties).toHaveProperty(
      'template_param',
    );
    // Still the seed's contract: any JSON, HTTP 200, the outcome in the body.
    for (const payload of [[1, 2], 'text', { phone: { nested: true }, channel: 7 }]) {
      const res = await t.app.inject({ method: 'POST', url: '/sms_message/getVerificationCode', payload: JSON.stringify(payload), headers: { 'content-type': 'application/json' } });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ code: 400, message: expect.stringMatching(/^参数错误/) });
    }
  });

  it('serves the Swagger UI at /docs', async () => {
    let res = await t.app.inject({ method: 'GET', url: '/docs' });
    for (let hops = 0; res.statusCode >= 300 && res.statusCode < 400 && hops < 3; hops++) {
      res = await t.app.inject({ method: 'GET', url: new URL(String(res.headers.location), 'http://localhost/docs').pathname });
    }
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.body).toMatch(/swagger-ui/i);
  });
});
