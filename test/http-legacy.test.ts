import { afterEach, describe, expect, it } from 'vitest';
import { STORE_KINDS } from './support/stores.js';
import { buildTestApp, type TestApp } from './support/app.js';
import { brokenStore } from './support/broken-store.js';

const PHONE = '13800000000';
const E164 = '+8613800000000';

describe.each(STORE_KINDS)('seed-compatible API on the %s store', (kind) => {
  let t: TestApp;
  afterEach(async () => {
    await t?.close();
  });

  const getCode = (body: unknown = { phone: PHONE, channel: 'login' }) => t.post('/sms_message/getVerificationCode', body);
  const verify = (code: unknown, phone: unknown = PHONE, channel = 'login') =>
    t.post('/sms_message/verify_code', { phone, code, channel });

  it('sends a code: HTTP 200 {code: 200, message: 请求成功!, data: {}}', async () => {
    t = await buildTestApp(kind);
    const res = await getCode();
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ code: 200, message: '请求成功!', data: {} });
  });

  it('puts the code in data only with EXPOSE_CODE=true, as the seed did', async () => {
    t = await buildTestApp(kind, { EXPOSE_CODE: 'true' });
    const res = await getCode();
    expect(res.body.data).toMatch(/^[0-9]{4}$/);
    expect(res.body.data).toBe(t.sms.lastCode(E164));
  });

  it('verifies once: 200 验证成功, then 401 already used', async () => {
    t = await buildTestApp(kind);
    await getCode();
    const code = t.sms.lastCode(E164);
    expect((await verify(code)).body).toEqual({ code: 200, message: '验证成功', data: {} });
    expect((await verify(code)).body).toEqual({ code: 401, message: '验证码已被验证过了,请勿重复使用', data: {} });
  });

  it('answers 405 for a wrong code and 406 when no code was sent', async () => {
    t = await buildTestApp(kind);
    expect((await verify('1234')).body).toEqual({ code: 406, message: '该手机未发送过验证码', data: {} });
    await getCode();
    const code = t.sms.lastCode(E164);
    const wrong = code === '0000' ? '1111' : '0000';
    expect((await verify(wrong)).body).toEqual({ code: 405, message: '验证码错误', data: {} });
  });

  it('answers 401 验证码已过期 after the TTL', async () => {
    t = await buildTestApp(kind, { CODE_TTL_SECONDS: '1' });
    await getCode();
    const code = t.sms.lastCode(E164);
    await t.harness.advance(1000);
    expect((await verify(code)).body).toEqual({ code: 401, message: '验证码已过期', data: {} });
  });

  it('answers 401 too many attempts once the wrong guesses are used up', async () => {
    t = await buildTestApp(kind, { MAX_VERIFY_ATTEMPTS: '1' });
    await getCode();
    const code = t.sms.lastCode(E164);
    expect((await verify(code === '0000' ? '1111' : '0000')).body.code).toBe(405);
    expect((await verify(code)).body).toEqual({ code: 401, message: '验证码错误次数过多,请重新获取', data: {} });
  });

  it('answers 401/402/403 for the 1st/2nd/3rd window, with the configured sentence', async () => {
    t = await buildTestApp(kind, { SEND_LIMITS: '1/100ms,2/2s,3/6s' });
    expect((await getCode()).body.code).toBe(200);
    expect((await getCode()).body).toEqual({ code: 401, message: '短信100毫秒之内已经发送过,请稍后再试', data: {} });
    await t.harness.advance(100);
    expect((await getCode()).body.code).toBe(200);
    await t.harness.advance(100);
    expect((await getCode()).body).toEqual({ code: 402, message: '短信2秒之内已经发送过2条,超出上限,请稍后再试', data: {} });
    await t.harness.advance(2000);
    expect((await getCode()).body.code).toBe(200);
    await t.harness.advance(100);
    expect((await getCode()).body).toEqual({ code: 403, message: '短信6秒之内已经发送过3条,超出上限,请稍后再试', data: {} });
  });

  it('answers 400 参数错误 for bad input, naming the field', async () => {
    t = await buildTestApp(kind);
    expect((await getCode({ phone: '01012345678', channel: 'login' })).body).toEqual({ code: 400, message: '参数错误: phone', data: {} });
    expect((await getCode({ phone: PHONE, channel: 'a b' })).body).toEqual({ code: 400, message: '参数错误: channel', data: {} });
    expect((await getCode({ phone: PHONE })).body).toEqual({ code: 400, message: '参数错误: channel', data: {} });
    expect((await getCode([1, 2])).body.code).toBe(400);
    expect((await verify('12', PHONE)).body).toEqual({ code: 400, message: '参数错误: code', data: {} });
    const notJson = await t.app.inject({
      method: 'POST',
      url: '/sms_message/getVerificationCode',
      headers: { 'content-type': 'application/json' },
      payload: '{"phone": ',
    });
    expect(notJson.statusCode).toBe(200);
    expect(notJson.json()).toEqual({ code: 400, message: '参数错误', data: {} });
    const wrongType = await t.app.inject({
      method: 'POST',
      url: '/sms_message/getVerificationCode',
      headers: { 'content-type': 'text/plain' },
      payload: 'phone=1',
    });
    expect(wrongType.statusCode).toBe(200);
    expect(wrongType.json()).toMatchObject({ code: 400, message: expect.stringMatching(/^参数错误/) });
    expect(t.sms.messages).toHaveLength(0);
  });

  it('accepts numeric phones and codes as the seed did', async () => {
    t = await buildTestApp(kind, { EXPOSE_CODE: 'true', CODE_LENGTH: '6' });
    await getCode({ phone: 13800000000, channel: 'login' });
    const code = t.sms.lastCode(E164);
    const asNumber = Number(code);
    const res = await verify(String(asNumber) === code ? asNumber : code, 13800000000);
    expect(res.body.code).toBe(200);
  });

  it('sends notices with the template params as a JSON string, never counting toward code limits', async () => {
    t = await buildTestApp(kind);
    await getCode();
    const code = t.sms.lastCode(E164);
    for (const templateParam of ['{"name":"张三"}', { name: '李四' }, '', '{"amount":9.9}']) {
      const res = await t.post('/sms_message/sendNotice', {
        phone: PHONE,
        channel: 'login',
        template_code: 'SMS_900',
        template_param: templateParam,
      });
      expect(res.body).toEqual({ code: 200, message: '请求成功!', data: {} });
    }
    expect(t.sms.messages.slice(1).map((m) => m.templateParam)).toEqual([{ name: '张三' }, { name: '李四' }, {}, { amount: 9.9 }]);
    expect((await verify(code)).body.code).toBe(200);
    expect((await getCode({ phone: PHONE, channel: 'other' })).body.code).toBe(200);
  });

  it('answers notices 400: bad template_param, or 短信发送失败 when the provider fails', async () => {
    t = await buildTestApp(kind);
    for (const templateParam of ['{oops', '[1]', '{"a":{"nested":1}}', 7]) {
      const bad = await t.post('/sms_message/sendNotice', { phone: PHONE, channel: 'x', template_code: 'SMS_1', template_param: templateParam });
      expect(bad.body, JSON.stringify(templateParam)).toEqual({ code: 400, message: '参数错误: template_param', data: {} });
    }
    t.sms.failNext();
    const failed = await t.post('/sms_message/sendNotice', { phone: PHONE, channel: 'x', template_code: 'SMS_1' });
    expect(failed.body).toEqual({ code: 400, message: '短信发送失败', data: {} });
  });

  it('answers 400 短信发送失败 when a code cannot be sent, and the failed send does not count', async () => {
    t = await buildTestApp(kind);
    t.sms.failNext('rate_limited', 'isv.BUSINESS_LIMIT_CONTROL');
    expect((await getCode()).body).toEqual({ code: 400, message: '短信发送失败', data: {} });
    t.sms.throwNext();
    expect((await getCode()).body).toEqual({ code: 400, message: '短信发送失败', data: {} });
    expect((await getCode()).body.code).toBe(200);
  });
});

describe('seed-compatible API: default limits and messages', () => {
  let t: TestApp;
  afterEach(async () => {
    await t?.close();
  });

  it("refuses the 2nd send in 60 s, the 6th in an hour and the 11th in a day with the seed's sentences", async () => {
    t = await buildTestApp('memory');
    const getCode = () => t.post('/sms_message/getVerificationCode', { phone: PHONE, channel: 'login' });
    expect((await getCode()).body.code).toBe(200);
    expect((await getCode()).body).toEqual({ code: 401, message: '短信1分钟之内已经发送过,请稍后再试', data: {} });
    for (let i = 2; i <= 5; i++) {
      await t.harness.advance(60_000);
      expect((await getCode()).body.code, `send ${i}`).toBe(200);
    }
    await t.harness.advance(60_000);
    expect((await getCode()).body).toEqual({ code: 402, message: '短信1小时之内已经发送过5条,超出上限,请稍后再试', data: {} });
    await t.harness.advance(3_600_000);
    for (let i = 6; i <= 10; i++) {
      expect((await getCode()).body.code, `send ${i}`).toBe(200);
      await t.harness.advance(60_000);
    }
    await t.harness.advance(3_600_000);
    expect((await getCode()).body).toEqual({ code: 403, message: '短信1天之内已经发送过10条,超出上限,请稍后再试', data: {} });
    await t.harness.advance(86_400_000);
    expect((await getCode()).body.code).toBe(200);
  });

  it('answers {code: 500} with a clear message when the store is unavailable', async () => {
    t = await buildTestApp('memory', {}, { store: brokenStore() });
    const res = await t.post('/sms_message/getVerificationCode', { phone: PHONE, channel: 'login' });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ code: 500, message: '服务暂不可用,请稍后再试', data: {} });
    const check = await t.post('/sms_message/verify_code', { phone: PHONE, channel: 'login', code: '1234' });
    expect(check.body).toEqual({ code: 500, message: '服务暂不可用,请稍后再试', data: {} });
  });
});
