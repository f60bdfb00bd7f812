import { describe, expect, it } from 'vitest';
import { startServer } from './support/node-process.js';
import { requireRedisUrl, uniquePrefix, until } from './support/stores.js';
import { showsPhone } from './support/numbers.js';

describe('the server process', () => {
  it('with WORKERS=2 serves the port from two processes and exits 0 when they have drained', async () => {
    // LOG_LEVEL=debug: the probes' request lines, which tell the pids apart, are debug lines.
    const server = startServer({ PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'debug', WORKERS: '2', REDIS_URL: requireRedisUrl(), REDIS_PREFIX: uniquePrefix() });
    const base = await server.listening;
    await until(() => (server.output().stdout.match(/Server listening at http:\/\/127\.0\.0\.1/g) ?? []).length >= 2, 15_000);
    const pids = new Set<number>();
    for (let i = 0; i < 20 && pids.size < 2; i++) {
      const res = await fetch(`${base}/healthz`, { headers: { connection: 'close' } });
      expect(res.status).toBe(200);
      for (const line of server.output().stdout.split('\n')) {
        if (line.includes('"incoming request"')) pids.add((JSON.parse(line) as { pid: number }).pid);
      }
    }
    expect(pids.size).toBe(2);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
  });

  it('refuses WORKERS above 1 without Redis', async () => {
    const server = startServer({ WORKERS: '2' });
    expect(await server.exited).toBe(1);
    expect(server.output().stderr).toMatch(/WORKERS above 1 needs Redis/);
  });

  it('stops at start-up on a bad setting with a message naming the variable', async () => {
    const server = startServer({ CODE_LENGTH: '99' });
    expect(await server.exited).toBe(1);
    expect(server.output().stderr).toMatch(/Invalid configuration: CODE_LENGTH/);
  });

  it('starts on the in-memory store with a warning, serves, and exits 0 on SIGTERM', async () => {
    const server = startServer({ PORT: '0', HOST: '127.0.0.1' });
    const base = await server.listening;
    expect(server.output().stdout).toMatch(/REDIS_URL is unset: using the in-memory store/);
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    const sent = await fetch(`${base}/v1/verifications`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ phone: '13800000000', channel: 'login' }),
    });
    expect(sent.status).toBe(201);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    expect(showsPhone(server.output().stdout, '13800000000')).toBe(false);
  });
});
