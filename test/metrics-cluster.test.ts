import { describe, expect, it } from 'vitest';
import { startServer } from './support/node-process.js';
import { Metrics } from '../src/metrics/metrics.js';
import { total, value } from './support/prometheus.js';
import { requireRedisUrl, uniquePrefix, until } from './support/stores.js';

const SENDS = 120;
const SENDERS = 6;

/**
 * With WORKERS=2 the kernel spreads connections over both workers, so scrapes land on either. Each
 * must answer for both: a counter read from one worker would go 5, 6, 5, 6… across scrapes.
 */
describe('/metrics with WORKERS=2', () => {
  it('answers for the whole process group: counters never go backwards and add up to the requests made', async () => {
    const server = startServer({
      WORKERS: '2',
      REDIS_URL: requireRedisUrl(),
      REDIS_PREFIX: uniquePrefix(),
      SEND_LIMITS: '1000/1s',
      PHONE_SEND_LIMITS: 'off',
    });
    try {
      const base = await server.listening;
      await until(() => (server.output().stdout.match(/Server listening at http:\/\/127\.0\.0\.1/g) ?? []).length >= 2, 15_000);
      const scrape = async (): Promise<string> => {
        const res = await fetch(`${base}/metrics`, { headers: { connection: 'close' } });
        expect(res.status).toBe(200);
        return res.text();
      };
      let sent = 0;
      let stop = false;
      const readings: Array<{ completedBefore: number; value: number }> = [];
      const senders = Array.from({ length: SENDERS }, async (_, sender) => {
        for (let i = sender; i < SENDS; i += SENDERS) {
          const res = await fetch(`${base}/v1/verifications`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', connection: 'close' },
            body: JSON.stringify({ phone: `+861390000${String(i).padStart(4, '0')}`, channel: 'cluster' }),
          });
          expect(res.status).toBe(201);
          await res.arrayBuffer();
          sent++;
        }
      });
      const scraper = (async () => {
        while (!stop) {
          const completedBefore = sent;
          readings.push({ completedBefore, value: total(await scrape(), 'sms_code_sends_total', { outcome: 'sent' }) });
        }
      })();
      await Promise.all(senders);
      stop = true;
      await scraper;

      expect(sent).toBe(SENDS);
      expect(readings.length).toBeGreaterThan(10);
      for (const [i, reading] of readings.entries()) {
        // every send answered before the scrape began is in it, whichever worker served either
        expect(reading.value, `scrape ${i}`).toBeGreaterThanOrEqual(reading.completedBefore);
        expect(reading.value, `scrape ${i}`).toBeLessThanOrEqual(SENDS);
        if (i > 0) expect(reading.value, `scrape ${i} after ${readings[i - 1]?.value}`).toBeGreaterThanOrEqual(readings[i - 1]!.value);
      }
      const final = await scrape();
      expect(total(final, 'sms_code_sends_total', { outcome: 'sent' })).toBe(SENDS);
      expect(total(final, 'http_requests_total', { route: '/v1/verifications', method: 'POST', status_code: '201' })).toBe(SENDS);
      expect(total(final, 'sms_code_sends_total')).toBe(SENDS);
      // every family one process exports is there, gauges combined as their aggregator says
      const declared = (text: string) => [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]);
      const omitted = ['process_start_time_seconds']; // per process, meaningless summed (prom-client omits it)
      const single = declared(await new Metrics().text()).filter((name) => !omitted.includes(name as string));
      expect(single.length).toBeGreaterThan(20);
      expect(declared(final)).toEqual(expect.arrayContaining(single));
      expect(value(final, 'store_connected')).toBe(1);
      expect(total(final, 'sms_verify_build_info')).toBe(1);
      // both workers answered sends and scrapes (else this test would prove nothing)
      const pidsServing = (url: string) =>
        new Set(
          server
            .output()
            .stdout.split('\n')
            .filter((line) => line.includes('"incoming request"') && line.includes(`"url":"${url}"`))
            .map((line) => (JSON.parse(line) as { pid: number }).pid),
        );
      expect(pidsServing('/v1/verifications').size).toBe(2);
      expect(pidsServing('/metrics').size).toBe(2);
    } finally {
      server.child.kill('SIGTERM');
      await server.exited;
    }
  }, 90_000);
});
