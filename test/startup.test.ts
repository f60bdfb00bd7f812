import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildTestApp, type TestApp } from './support/app.js';
import { brokenStore } from './support/broken-store.js';
import { startServer, type ServerProcess } from './support/node-process.js';
import { freePort, spawnRedisServer, type SpawnedRedis } from './support/redis-server.js';
import { requireRedisUrl, uniquePrefix, until } from './support/stores.js';

const SECRET = 'a-code-secret-of-thirty-two-chars!';
const TOKEN = 'shop-token-0123456789abcdef';
/** Everything NODE_ENV=production requires; each refusal test takes one thing away or adds one. */
const PRODUCTION: Record<string, string> = {
  NODE_ENV: 'production',
  API_KEYS: `shop:${TOKEN}`,
  CODE_SECRET: SECRET,
  ALLOWED_COUNTRIES: 'CN',
  GLOBAL_SEND_LIMITS: '10000/1d',
};

function without(...names: string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(PRODUCTION).filter(([name]) => !names.includes(name)));
}

function fileWith(content: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'startup-')), 'secret');
  writeFileSync(path, content);
  return path;
}

/** Lines of the JSON log (stdout) whose `msg` matches. */
function logLines(server: ServerProcess, pattern: RegExp): Array<Record<string, unknown>> {
  return server
    .output()
    .stdout.split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>)
    .filter((line) => pattern.test(String(line.msg)));
}

const running: ServerProcess[] = [];
function start(env: Record<string, string>): ServerProcess {
  const server = startServer(env);
  running.push(server);
  return server;
}

afterEach(async () => {
  for (const server of running.splice(0)) {
    if (server.child.exitCode === null && server.child.signalCode === null) {
      server.child.kill('SIGKILL');
      await server.exited;
    }
  }
});

describe('NODE_ENV=production through the real start command', () => {
  it('refuses to start without what production requires, naming the variable and why', async () => {
    const shortFile = fileWith('only-twenty-chars!!!\n');
    const cases: Array<[Record<string, string>, RegExp]> = [
      [without('CODE_SECRET'), /^Invalid configuration: CODE_SECRET is required with NODE_ENV=production \(or CODE_SECRET_FILE, a file holding it\): .*recovers every live code/],
      [{ ...PRODUCTION, CODE_SECRET: 'x'.repeat(31) }, /^Invalid configuration: CODE_SECRET is too short: at least 32 characters with NODE_ENV=production/],
      [{ ...without('CODE_SECRET'), CODE_SECRET_FILE: '/run/secrets/none' }, /^Invalid configuration: CODE_SECRET_FILE cannot be read \(\/run\/secrets\/none\): no such file/],
      [{ ...without('CODE_SECRET'), CODE_SECRET_FILE: shortFile }, /^Invalid configuration: CODE_SECRET_FILE holds a secret shorter than 32 characters/],
      [{ ...PRODUCTION, EXPOSE_CODE: 'true' }, /^Invalid configuration: EXPOSE_CODE must not be true with NODE_ENV=production: it returns every code/],
      [without('ALLOWED_COUNTRIES', 'GLOBAL_SEND_LIMITS'), /^Invalid configuration: ALLOWED_COUNTRIES, GLOBAL_SEND_LIMITS are required with NODE_ENV=production: .*SMS pumping/],
      [without('GLOBAL_SEND_LIMITS'), /^Invalid configuration: GLOBAL_SEND_LIMITS is required with NODE_ENV=production: ALLOWED_COUNTRIES .*GLOBAL_SEND_LIMITS .*SMS pumping/],
      [without('ALLOWED_COUNTRIES'), /^Invalid configuration: ALLOWED_COUNTRIES is required with NODE_ENV=production: .*SMS pumping/],
    ];
    const servers = cases.map(([env]) => start(env));
    const codes = await Promise.all(servers.map((server) => server.exited));
    cases.forEach(([, message], i) => {
      const server = servers[i] as ServerProcess;
      expect(codes[i], server.output().stderr).toBe(1);
      expect(server.output().stderr).toMatch(message);
      expect(server.output().stderr).not.toContain('x'.repeat(31));
      expect(server.output().stderr).not.toContain('only-twenty-chars');
      expect(server.output().stdout).not.toMatch(/Server listening/);
    });
  }, 120_000);

  it('starts with CODE_SECRET_FILE (trailing newline trimmed), ALLOWED_COUNTRIES=* and GLOBAL_SEND_LIMITS=off', async () => {
    const redisUrl = requireRedisUrl();
    const prefix = uniquePrefix();
    const production = start({
      ...without('CODE_SECRET'),
      CODE_SECRET_FILE: fileWith(`${SECRET}\n`),
      ALLOWED_COUNTRIES: '*',
      GLOBAL_SEND_LIMITS: 'off',
      REDIS_URL: redisUrl,
      REDIS_PREFIX: prefix,
    });
    // A development instance on the same Redis with the secret as typed, showing codes: a code it sent
    // verifies on the production instance only if that one read the file's secret without the newline.
    const development = start({ CODE_SECRET: SECRET, EXPOSE_CODE: 'true', REDIS_URL: redisUrl, REDIS_PREFIX: prefix });
    const [base, devBase] = await Promise.all([production.listening, development.listening]);
    const auth = { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` };
    const sent = await fetch(`${devBase}/v1/verifications`, { method: 'POST', headers: auth, body: JSON.stringify({ phone: '+85251234567', channel: 'login' }) });
    expect(sent.status).toBe(201);
    const { code } = (await sent.json()) as { code: string };
    const checked = await fetch(`${base}/v1/verifications/check`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ phone: '+85251234567', channel: 'login', code }),
    });
    expect(await checked.json()).toEqual({ status: 'approved' });
    // A configured secret is never stored, so there is nothing to warn about.
    expect(production.output().stdout).not.toMatch(/CODE_SECRET is unset/);
  }, 30_000);
});

describe('start-up messages', () => {
  it('names the store, the provider and the /docs URL, and warns about misspelt variables only', async () => {
    const server = start({ SEND_LIMIT: '1/60s', REDIS_ULR: 'redis://127.0.0.1:6379' });
    const base = await server.listening;
    await server.waitForOutput(/"msg":"ready: /);
    const [ready] = logLines(server, /^ready: /);
    expect(ready).toMatchObject({ store: 'memory', provider: 'log', docs: `${base}/docs` });
    expect(ready?.msg).toBe(`ready: store memory, provider log, API docs at ${base}/docs`);
    expect((await fetch(`${base}/docs`)).status).toBe(200);
    const warnings = logLines(server, /is not a setting of this service/).map((line) => line.msg);
    // PATH and HOME are in the process's environment too (see startServer): never warned about.
    expect(warnings).toEqual([
      'SEND_LIMIT is not a setting of this service and is ignored: did you mean SEND_LIMITS?',
      'REDIS_ULR is not a setting of this service and is ignored: did you mean REDIS_URL?',
    ]);
  });

  it('warns, outside production, that the code secret is kept in Redis, names Redis without its password, and shuts down without a lost-connection line', async () => {
    const redis = await spawnRedisServer(['--requirepass', 'hunter2-password']);
    try {
      const server = start({ REDIS_URL: `redis://:hunter2-password@127.0.0.1:${redis.port}/0` });
      await server.listening;
      await server.waitForOutput(/"msg":"ready: /);
      expect(logLines(server, /^CODE_SECRET is unset/)[0]?.msg).toMatch(
        /the code secret is generated and kept in Redis; .*anyone who reads a dump, a replica or MONITOR recovers every live code.*Set CODE_SECRET or CODE_SECRET_FILE/,
      );
      expect(logLines(server, /^ready: /)[0]).toMatchObject({ store: `redis single redis://127.0.0.1:${redis.port}/0`, provider: 'log' });
      expect(server.output().stdout + server.output().stderr).not.toContain('hunter2');
      // Closing the connection on purpose at shutdown is no lost connection.
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
      expect(logLines(server, /^Redis connection lost/)).toEqual([]);
    } finally {
      await redis.stop();
    }
  });

  it('stops when Redis is unreachable, naming the address (not the password) and the cause', async () => {
    const port = await freePort();
    const server = start({ REDIS_URL: `redis://:hunter2-password@127.0.0.1:${port}` });
    expect(await server.exited).toBe(1);
    expect(server.output().stderr.trim()).toBe(
      `Failed to start: RedisConnectError: cannot connect to Redis (redis single redis://127.0.0.1:${port}): connect ECONNREFUSED 127.0.0.1:${port}`,
    );
    expect(server.output().stdout + server.output().stderr).not.toContain('hunter2');
  });

  it('logs a lost Redis connection once and its return once, however many retries lie between', async () => {
    const port = await freePort();
    let redis: SpawnedRedis | undefined = await spawnRedisServer([], port);
    try {
      const server = start({ REDIS_URL: `redis://127.0.0.1:${port}`, CODE_SECRET: SECRET });
      await server.listening;
      await redis.stop();
      redis = undefined;
      // In Redis's place, a listener that hangs up on every connection: it counts the client's retries.
      const sockets: Socket[] = [];
      const impostor = createServer((socket) => {
        sockets.push(socket);
        socket.destroy();
      });
      await new Promise<void>((resolve) => impostor.listen(port, '127.0.0.1', resolve));
      await until(() => sockets.length >= 4, 15_000);
      await new Promise<void>((resolve) => impostor.close(() => resolve()));
      redis = await spawnRedisServer([], port);
      await server.waitForOutput(/"msg":"Redis connection back"/);
      const lost = logLines(server, /^Redis connection lost/);
      expect(lost).toHaveLength(1);
      expect(lost[0]).toMatchObject({ level: 40, store: `redis single redis://127.0.0.1:${port}` });
      expect(logLines(server, /^Redis connection back/)).toHaveLength(1);
    } finally {
      await redis?.stop();
    }
  }, 40_000);
});

describe('a failed reserve', () => {
  let t: TestApp;
  afterEach(async () => {
    await t?.close();
  });

  it('is logged as a reserve the store did not answer, not as a failed send', async () => {
    const lines: string[] = [];
    t = await buildTestApp('memory', {}, { store: brokenStore(), logLines: lines });
    expect((await t.post('/v1/verifications', { phone: '13800000000', channel: 'login' })).status).toBe(503);
    const messages = lines.map((line) => (JSON.parse(line) as { msg: string }).msg);
    expect(messages).toContain('send not reserved: the store did not answer (answered store unavailable; no SMS sent)');
    expect(messages.some((message) => message.startsWith('failed send not released'))).toBe(false);
  });
});
