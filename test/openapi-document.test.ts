import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTE_ERRORS } from '../plugins/hooks/docs.js';
import { Errors } from '../plugins/hooks/errors.js';
import { CLIENT_TYPES_FILE, clientTypesText, DOCUMENT_FILE } from '../scripts/openapi.js';
import { buildTestApp, type TestApp } from './support/app.js';

interface Operation {
  operationId?: string;
  requestBody?: { content: Record<string, { example?: Record<string, unknown> }> };
  responses: Record<string, { description: string; content?: Record<string, { schema: any }>; headers?: Record<string, unknown> }>;
}

const OPERATION_IDS = {
  'POST /v1/verifications': 'sendVerification',
  'POST /v1/verifications/check': 'checkVerification',
  'GET /v1/verifications/{id}': 'getVerification',
  'POST /v1/verifications/{id}/cancel': 'cancelVerification',
  'POST /v1/notifications': 'sendNotification',
  'GET /v1/audit': 'readAudit',
  'POST /sms_message/getVerificationCode': 'legacySendVerification',
  'POST /sms_message/verify_code': 'legacyCheckVerification',
  'POST /sms_message/sendNotice': 'legacySendNotification',
  'GET /healthz': 'getLiveness',
  'GET /readyz': 'getReadiness',
  'GET /metrics': 'getMetrics',
};

describe('the OpenAPI document, for clients', () => {
  let t: TestApp;
  let doc: any;
  beforeAll(async () => {
    // EXPOSE_CODE only changes answers, never the document.
    t = await buildTestApp('memory', { EXPOSE_CODE: 'true' });
    const res = await t.app.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    doc = res.json();
  });
  afterAll(async () => {
    await t?.close();
  });

  const operations = (): [string, Operation][] =>
    Object.entries(doc.paths as Record<string, Record<string, Operation>>).flatMap(([path, item]) =>
      Object.entries(item).map(([method, operation]): [string, Operation] => [`${method.toUpperCase()} ${path}`, operation]),
    );
  const operation = (key: keyof typeof OPERATION_IDS): Operation => {
    const [method, path] = key.split(' ') as [string, string];
    return doc.paths[path][method.toLowerCase()];
  };
  const jsonSchema = (key: keyof typeof OPERATION_IDS, status: string) => operation(key).responses[status]?.content?.['application/json']?.schema;

  it('is the committed openapi.json (run `npm run openapi` after changing a route)', () => {
    const committed: unknown = JSON.parse(readFileSync(DOCUMENT_FILE, 'utf8'));
    expect(doc, 'openapi.json is out of date: run `npm run openapi` and commit the result').toEqual(committed);
  });

  it('is what the committed client types were generated from', async () => {
    const committed = readFileSync(CLIENT_TYPES_FILE, 'utf8');
    expect(committed, 'clients/typescript/schema.d.ts is out of date: run `npm run openapi`').toBe(await clientTypesText(doc));
  });

  it('names every operation with a stable, unique camelCase operationId', () => {
    const ids = operations().map(([key, op]) => [key, op.operationId] as const);
    for (const [key, id] of ids) expect(id, key).toMatch(/^[a-z]+[A-Za-z0-9]*$/);
    expect(new Set(ids.map(([, id]) => id)).size).toBe(ids.length);
    expect(Object.fromEntries(ids)).toMatchObject(OPERATION_IDS);
  });

  it('has a server, relative to wherever the document is served', () => {
    expect(doc.servers).toEqual([expect.objectContaining({ url: '/' })]);
  });

  it('describes every response; no ranges, no "Default Response"', () => {
    for (const [key, op] of operations()) {
      for (const [status, response] of Object.entries(op.responses)) {
        expect(status, key).toMatch(/^[1-5]\d\d$/);
        expect(response.description, `${key} ${status}`).not.toBe('Default Response');
      }
    }
  });

  it('gives each v1 error status its own response whose `code` enum is exactly the codes that status carries', () => {
    for (const [route, names] of Object.entries(ROUTE_ERRORS)) {
      const expected = new Map<string, Set<string>>();
      for (const name of [...names, 'UNAUTHORIZED', 'FORBIDDEN', 'STORE_UNAVAILABLE', 'INTERNAL'] as const) {
        const error = new Errors[name]();
        const codes = expected.get(String(error.statusCode)) ?? new Set<string>();
        expected.set(String(error.statusCode), codes.add(error.code));
      }
      for (const [status, codes] of expected) {
        const schema = jsonSchema(route as keyof typeof OPERATION_IDS, status);
        const documented = (schema?.properties.code.enum ?? []).filter((code: string) => !code.startsWith('FST_'));
        expect(new Set(documented), `${route} ${status}`).toEqual(codes);
        expect(schema.properties.statusCode.enum).toEqual([Number(status)]);
        for (const code of codes) expect(operation(route as keyof typeof OPERATION_IDS).responses[status]?.description).toContain(`\`${code}\``);
      }
    }
    expect(jsonSchema('POST /v1/verifications', '429').properties.code.enum).toEqual([
      'RATE_LIMITED',
      'PHONE_RATE_LIMITED',
      'IP_RATE_LIMITED',
      'GLOBAL_RATE_LIMITED',
      'PROVIDER_RATE_LIMITED',
    ]);
    expect(jsonSchema('POST /v1/verifications/check', '429').properties.code.enum).toEqual([
      'OTP_TOO_MANY_ATTEMPTS',
      'VERIFY_RATE_LIMITED',
      'CHECK_RATE_LIMITED',
    ]);
    expect(jsonSchema('POST /v1/verifications', '400').properties.code.enum).toContain('FST_ERR_VALIDATION');
    expect(jsonSchema('GET /v1/audit', '415')).toBeUndefined();
  });

  it('documents the extra fields and Retry-After of the errors that carry them', () => {
    const sendLimited = operation('POST /v1/verifications').responses['429'];
    expect(sendLimited?.headers).toHaveProperty('Retry-After');
    expect(Object.keys(jsonSchema('POST /v1/verifications', '429').properties)).toEqual(expect.arrayContaining(['retryAfter', 'limit']));
    expect(jsonSchema('POST /v1/verifications/check', '422').properties.attemptsRemaining).toMatchObject({ type: 'integer' });
    // Notices are inside the send limits (issue 11): their refusals carry Retry-After and the limit too.
    expect(operation('POST /v1/notifications').responses['429']?.headers).toHaveProperty('Retry-After');
    expect(Object.keys(jsonSchema('POST /v1/notifications', '429').properties)).toEqual(expect.arrayContaining(['retryAfter', 'limit']));
    // An unconfirmed send counts: its 502 says how long to wait, like a refusal.
    expect(operation('POST /v1/verifications').responses['502']?.headers).toHaveProperty('Retry-After');
    expect(operation('GET /v1/audit').responses['429']).toBeUndefined();
  });

  it('has request examples that succeed as printed ("Try it out")', async () => {
    const example = (key: keyof typeof OPERATION_IDS) => operation(key).requestBody?.content['application/json']?.example;
    const send = await t.post('/v1/verifications', example('POST /v1/verifications'));
    expect(send.status, JSON.stringify(send.body)).toBe(201);
    expect(send.body.phone).toBe(example('POST /v1/verifications')?.phone);

    // The check example is well-formed (the printed code is not the one sent, so it is refused as wrong)…
    const check = example('POST /v1/verifications/check');
    expect(check).toMatchObject({ phone: send.body.phone, channel: send.body.channel });
    const guessed = await t.post('/v1/verifications/check', check);
    expect([200, 422]).toContain(guessed.status);
    // …and with the code received it approves.
    const approved = await t.post('/v1/verifications/check', { ...check, code: send.body.code });
    expect(guessed.status === 200 ? 409 : 200).toBe(approved.status);

    const notice = await t.post('/v1/notifications', example('POST /v1/notifications'));
    expect(notice.status, JSON.stringify(notice.body)).toBe(201);

    for (const key of ['POST /sms_message/getVerificationCode', 'POST /sms_message/sendNotice'] as const) {
      const legacy = await t.post(key.split(' ')[1] as string, example(key));
      expect(legacy.body, key).toMatchObject({ code: 200 });
    }
    const legacyCheck = await t.post('/sms_message/verify_code', example('POST /sms_message/verify_code'));
    expect([200, 405]).toContain(legacyCheck.body.code);
  });
});
