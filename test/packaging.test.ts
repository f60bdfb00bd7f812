/**
 * What ships: the Dockerfile, docker-compose.yml and .dockerignore read as Docker would (no Docker
 * engine here), and the compiled build started as `npm start` and the image start it.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { EnvSchema } from '../src/config/config.js';
import { parseDuration } from '../src/config/duration.js';
import { spawnNode, startCompiledServer, type ServerProcess } from './support/node-process.js';
import { freePort } from './support/redis-server.js';
import { requireRedisUrl, uniquePrefix } from './support/stores.js';

const ROOT = new URL('..', import.meta.url).pathname;
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');
const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string>; engines: { node: string } };
const SHUTDOWN_DEFAULT_MS = (EnvSchema.properties.SHUTDOWN_TIMEOUT_MS as { default: number }).default;

/** Dockerfile instructions, continuation lines joined, comments dropped. */
function dockerfile(): string[] {
  return read('Dockerfile')
    .replace(/\\\n\s*/g, '')
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.trimStart().startsWith('#'));
}

/** The `HEALTHCHECK … CMD [exec form]` of the Dockerfile as an argv. */
function healthcheckArgv(): string[] {
  const line = dockerfile().find((l) => l.startsWith('HEALTHCHECK'));
  const json = /\bCMD\s+(\[.*\])\s*$/.exec(line ?? '')?.[1];
  if (!json) throw new Error('Dockerfile: no HEALTHCHECK … CMD ["…"] instruction');
  return JSON.parse(json) as string[];
}

interface ComposeService {
  restart?: string;
  stop_grace_period?: string;
  environment?: Record<string, string | number>;
  healthcheck?: { test: string[] };
}

describe('Dockerfile', () => {
  it('builds on one Node 24 slim image pinned to a minor, the major .nvmrc names', () => {
    const lines = dockerfile();
    const image = /^ARG NODE_IMAGE=(\S+)$/m.exec(lines.join('\n'))?.[1] ?? '';
    expect(image).toMatch(/^node:\d+\.\d+-slim$/);
    expect(image.split(/[:.]/)[1]).toBe(read('.nvmrc').trim());
    const froms = lines.filter((l) => l.startsWith('FROM'));
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const from of froms) expect(from).toMatch(/^FROM \$\{NODE_IMAGE\} AS \w+$/);
  });

  it('copies every folder the build compiles into the build stage', () => {
    const copied = dockerfile()
      .filter((l) => l.startsWith('COPY ') && !l.includes('--from'))
      .flatMap((l) => l.split(/\s+/).slice(1, -1));
    const include = (JSON.parse(read('tsconfig.build.json')) as { include: string[] }).include;
    for (const entry of [...include, 'tsconfig.build.json', 'tsconfig.json', 'package-lock.json']) expect(copied, entry).toContain(entry);
  });

  it('runs the compiled service from a stage with production dependencies only, with a HEALTHCHECK', () => {
    const lines = dockerfile();
    const runtime = lines.slice(lines.map((l) => l.startsWith('FROM')).lastIndexOf(true));
    expect(runtime).toContain('RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force');
    expect(runtime.some((l) => l.includes('npm run build') || /npm (ci|install)(?!.*--omit=dev)/.test(l))).toBe(false);
    expect(runtime).toContain('COPY --from=build /app/dist ./dist');
    expect(runtime).toContain('USER node');
    expect(runtime.at(-1)).toBe('CMD ["node", "dist/server.js"]');
    expect(runtime.some((l) => l.startsWith('HEALTHCHECK'))).toBe(true);
    expect(healthcheckArgv().join(' ')).toContain('/healthz');
  });

  it('.dockerignore keeps .env (secrets), node_modules and dist out of the build context', () => {
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim());
    for (const entry of ['.env', '.env.*', 'node_modules', 'dist']) expect(ignored).toContain(entry);
  });
});

describe('docker-compose.yml', () => {
  const compose = parseYaml(read('docker-compose.yml')) as { services: Record<string, ComposeService> };
  const app = compose.services['sms-verify'] as ComposeService;

  it('restarts the app, checks its health, and gives it longer to stop than the drain takes', () => {
    expect(app.restart).toBe('unless-stopped');
    expect(app.healthcheck?.test.slice(0, 3)).toEqual(['CMD', 'node', '-e']);
    expect(app.healthcheck?.test[3]).toContain('/healthz');
    const graceMs = parseDuration(app.stop_grace_period ?? '');
    const drainMs = Number(/:-(\d+)\}$/.exec(String(app.environment?.SHUTDOWN_TIMEOUT_MS))?.[1] ?? SHUTDOWN_DEFAULT_MS);
    expect(drainMs).toBe(SHUTDOWN_DEFAULT_MS);
    expect(graceMs).toBeGreaterThanOrEqual(drainMs + 3000);
  });

  it('sets only variables the service reads', () => {
    const known = Object.keys(EnvSchema.properties);
    for (const name of Object.keys(app.environment ?? {})) expect(known, name).toContain(name);
  });
});

describe('the compiled build (npm run build, then node dist/server.js)', () => {
  let server: ServerProcess | undefined;
  let base = '';

  beforeAll(async () => {
    await promisify(execFile)('npm', ['run', '-s', 'build'], { cwd: ROOT });
    server = startCompiledServer({ REDIS_URL: requireRedisUrl(), REDIS_PREFIX: uniquePrefix(), EXPOSE_CODE: 'true' });
    base = await server.listening;
  }, 180_000);

  afterAll(async () => {
    server?.child.kill('SIGTERM');
    await server?.exited;
  });

  it('refuses, as npm start runs it, to start in production without a code secret, naming the variable', async () => {
    const refused = startCompiledServer({
      NODE_ENV: 'production',
      API_KEYS: 'shop:shop-token-0123456789abcdef',
      ALLOWED_COUNTRIES: 'CN',
      GLOBAL_SEND_LIMITS: 'off',
      REDIS_URL: requireRedisUrl(),
    });
    expect(await refused.exited).toBe(1);
    expect(refused.output().stderr).toMatch(/CODE_SECRET is required with NODE_ENV=production/);
    expect(refused.output().stdout).not.toMatch(/Server listening/);
  });

  it('imports nothing at run time but Node built-ins and the production dependencies', () => {
    const builtins = new Set(builtinModules);
    const files = readdirSync(join(ROOT, 'dist'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js'));
    expect(files).toContain('server.js');
    const packages = new Set<string>();
    for (const file of files) {
      for (const [, specifier] of read(join('dist', file)).matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|^import\s+)['"]([^'"]+)['"]/gm)) {
        if (specifier === undefined || specifier.startsWith('.') || specifier.startsWith('node:') || builtins.has(specifier)) continue;
        packages.add(specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : (specifier.split('/')[0] as string));
      }
    }
    expect(packages.size).toBeGreaterThan(5);
    for (const name of packages) expect(Object.keys(pkg.dependencies), name).toContain(name);
  });

  it('serves a send and a check on Redis (the Lua scripts reached dist/)', async () => {
    const post = (path: string, body: unknown) =>
      fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const sent = await post('/v1/verifications', { phone: '13800000000', channel: 'login' });
    expect(sent.status).toBe(201);
    const { code } = (await sent.json()) as { code: string };
    const checked = await post('/v1/verifications/check', { phone: '13800000000', channel: 'login', code });
    expect(checked.status).toBe(200);
  });

  it("passes the image's HEALTHCHECK and compose's healthcheck, which fail when nothing answers", async () => {
    const port = new URL(base).port;
    const [node, ...args] = healthcheckArgv();
    expect(node).toBe('node');
    const compose = (parseYaml(read('docker-compose.yml')) as { services: Record<string, ComposeService> }).services['sms-verify'];
    const composeArgs = (compose?.healthcheck?.test.slice(2) ?? []).map((a) => a.replace('127.0.0.1:3000', `127.0.0.1:${port}`));
    expect(await spawnNode(args, { PORT: port }).exited).toBe(0);
    expect(await spawnNode(composeArgs, {}).exited).toBe(0);
    expect((await spawnNode(args, { PORT: String(await freePort()) }).exited)).toBe(1);
  }, 30_000);

  it('runs the audit CLI compiled (as in the image): node dist/scripts/audit.js --help', async () => {
    const run = spawnNode(['dist/scripts/audit.js', '--help'], {});
    expect(await run.exited).toBe(0);
    expect(run.stdout()).toContain('node dist/scripts/audit.js');
  });

  it('runs the Dysmsapi double compiled (as in the image): node dist/tools/fake-dysmsapi/cli.js', async () => {
    const run = spawnNode(['dist/tools/fake-dysmsapi/cli.js'], { FAKE_SMS_PORT: '0' });
    const [, url] = await run.waitForOutput(/fake Dysmsapi listening on (http:\/\/127\.0\.0\.1:\d+)/);
    expect((await fetch(url as string)).status).toBeGreaterThanOrEqual(400);
    run.child.kill('SIGTERM');
    expect(await run.exited).toBe(0);
  });
});

describe('supported Node versions', () => {
  it('.nvmrc names the Node major CI targets, and engines admits it and the oldest tested one', () => {
    expect(read('.nvmrc').trim()).toBe('24');
    // What CI tests, and nothing else: the target (24) and the machine's older Node (20, past its end of life).
    expect(pkg.engines.node).toBe('^20.19.0 || ^24.0.0');
  });
});
