import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../src/domain/audit/audit.js';
import { buildTestApp, type TestApp } from './support/app.js';
import { COMMAND_HELP, COMMAND_OPTIONS, MAIN_HELP } from '../scripts/audit/help.js';
import { spawnTsx } from './support/node-process.js';
import { STORE_KINDS, createHarness, requireRedisUrl, until, type StoreHarness } from './support/stores.js';

const PHONE = '+8613911112222';

async function allEvents(t: TestApp): Promise<AuditEntry[]> {
  const events: AuditEntry[] = [];
  for await (const entry of t.harness.store.audit.scan({})) events.push(entry);
  return events;
}

describe.each(STORE_KINDS)('audit events on the %s store', (kind) => {
  let t: TestApp;
  afterEach(async () => {
    await t?.close();
  });

  /** Runs one request and returns the one event it must have appended. */
  async function oneEvent(request: () => Promise<unknown>): Promise<Record<string, string>> {
    const before = (await allEvents(t)).length;
    await request();
    const events = await allEvents(t);
    expect(events.length - before, 'events appended by one request').toBe(1);
    const last = events.at(-1) as AuditEntry;
    expect(last.time).toBe(new Date(Number(last.id.split('-')[0])).toISOString());
    return { ...last.fields };
  }

  const send = (channel = 'login') => t.post('/v1/verifications', { phone: PHONE, channel });
  const check = (code: string) => t.post('/v1/verifications/check', { phone: PHONE, channel: 'login', code });

  it('writes exactly one event per outcome with the documented fields', async () => {
    t = await buildTestApp(kind, { CODE_LENGTH: '6', MAX_VERIFY_ATTEMPTS: '2', SEND_LIMITS: '1/60s' });
    const base = { phone: PHONE, channel: 'login', ip: '127.0.0.1' };

    const sent = await oneEvent(() => send());
    const outId = t.sms.messages[0]?.outId as string;
    expect(sent).toEqual({ ...base, event: 'code.sent', template: 'verification-code', provider: 'recording', bizId: 'biz-1', requestId: 'req', outId });

    expect(await oneEvent(() => send())).toEqual({ ...base, event: 'code.rate_limited', reason: 'channel:1/60s' });

    const code = t.sms.lastCode(PHONE);
    const wrong = code === '000000' ? '111111' : '000000';
    expect(await oneEvent(() => check(wrong))).toEqual({ ...base, event: 'code.rejected', reason: 'mismatch', attempt: '1', outId });
    expect(await oneEvent(() => check(code))).toEqual({ ...base, event: 'code.approved', attempt: '2', outId });
    expect(await oneEvent(() => check(code))).toEqual({ ...base, event: 'code.rejected', reason: 'used', outId });

    t.sms.failNext('failed', 'isv.AMOUNT_NOT_ENOUGH');
    const failed = await oneEvent(() => send('other'));
    expect(failed).toEqual({
      ...base,
      channel: 'other',
      event: 'code.send_failed',
      reason: 'isv.AMOUNT_NOT_ENOUGH',
      template: 'verification-code',
      provider: 'recording',
      requestId: 'R1',
      outId: t.sms.messages.at(-1)?.outId,
    });
    expect(await oneEvent(() => t.post('/v1/verifications/check', { phone: PHONE, channel: 'none', code }))).toEqual({
      ...base,
      channel: 'none',
      event: 'code.rejected',
      reason: 'not_found',
    });

    const notice = await oneEvent(() =>
      t.post('/v1/notifications', { phone: PHONE, channel: 'orders', templateCode: 'SMS_9', templateParam: { order: '7' } }),
    );
    expect(notice).toMatchObject({ event: 'notice.sent', template: 'SMS_9', provider: 'recording', channel: 'orders', phone: PHONE });
    expect(notice).not.toHaveProperty('order');
    t.sms.failNext();
    expect(await oneEvent(() => t.post('/sms_message/sendNotice', { phone: PHONE, channel: 'orders', template_code: 'SMS_9' }))).toMatchObject({
      event: 'notice.send_failed',
      reason: 'isp.SYSTEM_ERROR',
    });
  });

  it('records expired and too_many_attempts rejections', async () => {
    t = await buildTestApp(kind, { CODE_LENGTH: '6', MAX_VERIFY_ATTEMPTS: '1', CODE_TTL_SECONDS: '1', SEND_LIMITS: '5/1h' });
    await send();
    const code = t.sms.lastCode(PHONE);
    await check(code === '000000' ? '111111' : '000000');
    const tooMany = await oneEvent(() => check(code));
    expect(tooMany).toMatchObject({ event: 'code.rejected', reason: 'too_many_attempts' });
    expect(tooMany).not.toHaveProperty('attempt');
    await send();
    await t.harness.advance(1000);
    expect(await oneEvent(() => check(t.sms.lastCode(PHONE)))).toMatchObject({ event: 'code.rejected', reason: 'expired' });
  });

  it('never writes a code or its HMAC into any field of any entry', async () => {
    t = await buildTestApp(kind, { CODE_LENGTH: '10', SEND_LIMITS: '50/1h', EXPOSE_CODE: 'true' });
    const codes: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await send(`ch${i}`);
      codes.push(res.body.code);
      await check(res.body.code);
      await check('0123456789');
    }
    await t.post('/sms_message/getVerificationCode', { phone: PHONE, channel: 'legacy' });
    codes.push(t.sms.lastCode(PHONE));
    const events = await allEvents(t);
    expect(events.length).toBeGreaterThanOrEqual(16);
    const hashes: string[] = [];
    if (kind === 'redis') {
      const admin = new Redis(requireRedisUrl());
      for (let i = 0; i < 5; i++) hashes.push(await admin.hget(`${t.harness.prefix}{${PHONE}}:ch${i}:code`, 'h') as string);
      admin.disconnect();
      expect(hashes.every((h) => h && h.length > 20)).toBe(true);
    }
    for (const entry of events) {
      for (const [name, value] of Object.entries(entry.fields)) {
        for (const secret of [...codes, ...hashes]) expect(`${name}=${value}`).not.toContain(secret);
      }
    }
  });

  it('serves GET /v1/audit in pages, filtered by phone in any form and by channel', async () => {
    t = await buildTestApp(kind, { SEND_LIMITS: '100/1h' });
    for (let i = 0; i < 5; i++) await send('login');
    await send('reset');
    await t.post('/v1/verifications', { phone: '+8613900009999', channel: 'login' });

    const get = async (query: string) => {
      const res = await t.app.inject({ url: `/v1/audit?${query}` });
      return { status: res.statusCode, body: res.json() };
    };
    const first = await get('phone=13911112222&channel=login&limit=3');
    expect(first.status).toBe(200);
    expect(first.body.events).toHaveLength(3);
    expect(first.body.events.every((e: any) => e.phone === PHONE && e.channel === 'login' && e.event === 'code.sent')).toBe(true);
    const second = await get(`phone=13911112222&channel=login&limit=3&cursor=${first.body.nextCursor}`);
    const seen = [...first.body.events, ...second.body.events];
    expect(seen.map((e: any) => e.id)).toEqual([...new Set(seen.map((e: any) => e.id))]);
    expect(seen).toHaveLength(5);
    expect((await get(`phone=${encodeURIComponent('+86 139-1111-2222')}`)).body.events).toHaveLength(6);
    const future = new Date(Date.now() + 3_600_000).toISOString();
    expect((await get(`since=${encodeURIComponent(future)}`)).body.events).toEqual([]);
    expect((await get('cursor=not-a-cursor')).status).toBe(400);
    expect((await get('limit=1000')).status).toBe(400);
    expect((await get('phone=abc')).status).toBe(400);
  });
});

describe('audit retention', () => {
  let h: StoreHarness;
  afterEach(async () => {
    await h?.close();
  });

  const context = { phone: PHONE, channel: 'login' };

  it('trims the Redis stream by age (MINID ~) and by count (MAXLEN ~)', async () => {
    const { connectRedisStore } = await import('../src/stores/redis/redis-store.js');
    h = await createHarness('redis');
    const admin = new Redis(requireRedisUrl());
    const byAge = await connectRedisStore(requireRedisUrl(), {
      prefix: h.prefix,
      commandTimeoutMs: 1000,
      auditKey: `${h.prefix}age`,
      audit: { retentionMs: 1000, maxLen: undefined },
    });
    for (let i = 0; i < 250; i++) await byAge.appendAudit(context, { event: 'notice.sent', n: i });
    expect(await admin.xlen(`${h.prefix}age`)).toBe(250);
    await h.advance(1000);
    await byAge.appendAudit(context, { event: 'notice.sent', n: 'last' });
    // Approximate trimming drops whole stream nodes (100 entries each) once all of them are too old.
    expect(await admin.xlen(`${h.prefix}age`)).toBeLessThanOrEqual(101);

    const byCount = await connectRedisStore(requireRedisUrl(), {
      prefix: h.prefix,
      commandTimeoutMs: 1000,
      auditKey: `${h.prefix}count`,
      audit: { retentionMs: 86_400_000, maxLen: 200 },
    });
    for (let i = 0; i < 1000; i++) await byCount.appendAudit(context, { event: 'notice.sent', n: i });
    expect(await admin.xlen(`${h.prefix}count`)).toBeLessThanOrEqual(300);
    expect(await admin.xlen(`${h.prefix}count`)).toBeGreaterThanOrEqual(200);
    await Promise.all([byAge.close(), byCount.close()]);
    admin.disconnect();
  });

  it('bounds the in-memory log by age and count', async () => {
    const { MemoryStore } = await import('../src/stores/memory/memory-store.js');
    let now = 1_000_000;
    const store = new MemoryStore({ now: () => now, audit: { retentionMs: 1000, maxLen: 50 } });
    for (let i = 0; i < 120; i++) await store.appendAudit(context, { event: 'notice.sent', n: i });
    let events = (await store.audit.page({}, { limit: 1000 })).events;
    expect(events).toHaveLength(50);
    expect(events[0]?.fields.n).toBe('70');
    now += 1001;
    await store.appendAudit(context, { event: 'notice.sent', n: 'last' });
    events = (await store.audit.page({}, { limit: 1000 })).events;
    expect(events.map((e) => e.fields.n)).toEqual(['last']);
    await store.close();
  });
});

describe('npm run audit', () => {
  let h: StoreHarness;
  beforeEach(async () => {
    h = await createHarness('redis');
  });
  afterEach(async () => {
    await h.close();
  });

  function cli(args: string[]) {
    const run = spawnTsx('scripts/audit.ts', args, { REDIS_URL: requireRedisUrl(), REDIS_PREFIX: h.prefix });
    const lines = () => run.stdout().split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, string>);
    return { ...run, lines };
  }

  async function append(phone: string, channel: string, n: number) {
    await h.store.appendAudit({ phone, channel }, { event: 'notice.sent', n });
  }

  it('export prints matching events as NDJSON with id and time, filtered by phone, channel and time', async () => {
    await append('+8613800000001', 'login', 1);
    await append('+8613800000002', 'login', 2);
    await append('+8613800000001', 'reset', 3);
    await h.advance(20);
    const middle = (await h.store.audit.page({}, { limit: 10 })).events.at(-1)?.id as string;
    const boundary = new Date(Number(middle.split('-')[0]) + 10).toISOString();
    await h.advance(20);
    await append('+8613800000001', 'login', 4);

    const all = cli(['export']);
    expect(await all.exited).toBe(0);
    expect(all.lines().map((l) => l.n)).toEqual(['1', '2', '3', '4']);
    expect(all.stderr()).toBe('exported 4 events\n');
    expect(all.lines()[0]).toMatchObject({ id: expect.stringMatching(/^\d+-\d+$/), time: expect.any(String), event: 'notice.sent' });

    const byPhone = cli(['export', '--phone', '13800000001']);
    expect(await byPhone.exited).toBe(0);
    expect(byPhone.lines().map((l) => l.n)).toEqual(['1', '3', '4']);

    const byPhoneAndChannel = cli(['export', '--phone', '+8613800000001', '--channel', 'login', '--since', boundary]);
    expect(await byPhoneAndChannel.exited).toBe(0);
    expect(byPhoneAndChannel.lines().map((l) => l.n)).toEqual(['4']);

    const untilBoundary = cli(['export', '--until', boundary]);
    expect(await untilBoundary.exited).toBe(0);
    expect(untilBoundary.lines().map((l) => l.n)).toEqual(['1', '2', '3']);

    const bad = cli(['export', '--since', 'yesterday']);
    expect(await bad.exited).toBe(2);
    expect(bad.stderr()).toMatch(/--since/);
  });

  it('follow killed half-way and restarted prints every event at least once', async () => {
    const total = 300;
    for (let i = 0; i < total; i++) await append('+8613800000001', 'login', i);
    const first = cli(['follow', '--group', 'shipper', '--consumer', 'c1', '--batch', '7']);
    await until(() => first.lines().length >= 50, 15_000);
    expect(first.stderr()).toMatch(/^follow: new consumer group "shipper" on \S+audit, starting with the oldest retained event, as consumer "c1"\n/);
    first.child.kill('SIGKILL');
    await first.exited;
    const printedBefore = first.lines().map((l) => l.id as string);
    expect(printedBefore.length).toBeLessThan(total);

    for (let i = total; i < total + 20; i++) await append('+8613800000001', 'login', i);
    const second = cli(['follow', '--group', 'shipper', '--consumer', 'c1', '--batch', '7']);
    await until(() => second.stderr().includes('\n'), 15_000);
    // Killed after writing a batch and before acknowledging it, or between batches.
    expect(second.stderr()).toMatch(/^follow: resuming consumer group "shipper" on \S+ as consumer "c1" after event \d+-\d+ \(\d{4}-[^)]+Z\)(; first the [1-7] events? consumer "c1" read before without acknowledging)?; \d+ newer events not yet delivered to the group\n$/);
    const expected = (await h.store.audit.page({}, { limit: 10_000 })).events.map((e) => e.id);
    expect(expected).toHaveLength(total + 20);
    await until(() => {
      const seen = new Set([...printedBefore, ...second.lines().map((l) => l.id as string)]);
      return expected.every((id) => seen.has(id));
    }, 15_000);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    const printed = [...printedBefore, ...second.lines().map((l) => l.id as string)];
    expect(new Set(printed)).toEqual(new Set(expected));
    // At least once, and duplicated at most by the one batch in flight when it was killed.
    expect(printed.length - expected.length).toBeLessThanOrEqual(7);
  });

  it('export --progress reports on stderr every n events, and the total', async () => {
    for (let i = 0; i < 5; i++) await append('+8613800000001', 'login', i);
    const run = cli(['export', '--progress', '2']);
    expect(await run.exited).toBe(0);
    expect(run.lines()).toHaveLength(5);
    expect(run.stderr()).toBe('exported 2 events…\nexported 4 events…\nexported 5 events\n');
    const none = cli(['export', '--phone', '13900000000']);
    expect(await none.exited).toBe(0);
    expect(none.stdout()).toBe('');
    expect(none.stderr()).toBe('exported 0 events\n');
  });

  it('follow says where it resumes: after the last delivered event, with what is left for the group', async () => {
    for (let i = 0; i < 4; i++) await append('+8613800000001', 'login', i);
    const first = cli(['follow', '--group', 'g', '--consumer', 'c', '--new-only']);
    await until(() => first.stderr().includes('\n'), 15_000);
    expect(first.stderr()).toMatch(/^follow: new consumer group "g" on \S+, starting with events arriving from now on \(--new-only\), as consumer "c"\n$/);
    await append('+8613800000001', 'login', 4);
    await until(() => first.lines().length === 1, 15_000);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    const lastId = first.lines()[0]?.id as string;
    for (let i = 5; i < 8; i++) await append('+8613800000001', 'login', i);

    const second = cli(['follow', '--group', 'g', '--consumer', 'c']);
    await until(() => second.lines().length === 3, 15_000);
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    const time = new Date(Number(lastId.split('-')[0])).toISOString();
    expect(second.stderr()).toBe(`follow: resuming consumer group "g" on ${h.prefix}audit as consumer "c" after event ${lastId} (${time}); 3 newer events not yet delivered to the group\n`);
    expect(second.lines().map((l) => l.n)).toEqual(['5', '6', '7']);
  });
});

describe('npm run audit --help', () => {
  /** No Redis variables at all: help must not need Redis. */
  const cli = (args: string[]) => spawnTsx('scripts/audit.ts', args, {});

  it.each([
    [['--help'], MAIN_HELP],
    [['help'], MAIN_HELP],
    [['export', '--help'], COMMAND_HELP.export],
    [['follow', '-h'], COMMAND_HELP.follow],
    [['help', 'follow'], COMMAND_HELP.follow],
  ])('%j prints the help on stdout and exits 0', async (args, text) => {
    const run = cli(args);
    expect(await run.exited).toBe(0);
    expect(run.stdout()).toBe(`${text}\n`);
    expect(run.stderr()).toBe('');
  });

  it.each(Object.keys(COMMAND_OPTIONS))('the help of %s describes every flag it accepts', (command) => {
    const help = COMMAND_HELP[command] as string;
    const options = COMMAND_OPTIONS[command] ?? {};
    expect(Object.keys(options).length).toBeGreaterThan(1);
    for (const [name, option] of Object.entries(options)) {
      // A line of the flag list: the flag, its argument for a string flag, then a description.
      const line = new RegExp(`^ {2}(-${option.short ?? '_'}, )?--${name}${option.type === 'string' ? ' <[^>]+>' : ''} +\\S`, 'm');
      expect(help, `--${name}`).toMatch(line);
    }
    expect(MAIN_HELP).toContain(command);
  });

  it('answers a bad command line with exit 2 and a pointer to the help', async () => {
    const unknownFlag = cli(['export', '--bogus']);
    expect(await unknownFlag.exited).toBe(2);
    expect(unknownFlag.stderr()).toMatch(/'--bogus'[\s\S]*export --help/);
    const unknownCommand = cli(['exprot']);
    expect(await unknownCommand.exited).toBe(2);
    expect(unknownCommand.stderr()).toMatch(/unknown command "exprot"/);
    const none = cli([]);
    expect(await none.exited).toBe(2);
    const noRedis = cli(['export']);
    expect(await noRedis.exited).toBe(2);
    expect(noRedis.stderr()).toMatch(/REDIS_URL/);
  });
});
