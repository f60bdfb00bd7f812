import { existsSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { spawnRedisServer } from './redis-server.js';

declare module 'vitest' {
  interface ProvidedContext {
    /** The Redis every Redis suite uses, or '' when none could be had. */
    redisUrl: string;
    /** Why there is no Redis, for the suites to fail with. */
    redisError: string;
  }
}

export const NO_REDIS_HELP =
  'The Redis suites need a Redis 7. Set REDIS_URL=redis://…, or start a Docker engine (testcontainers), ' +
  'or put redis-server on the PATH (Debian/Ubuntu: apt-get install redis-server).';

/**
 * One Redis for the whole run, found in this order: `REDIS_URL`; a testcontainers
 * Redis where a Docker engine answers; a `redis-server` spawned on a free port.
 * Tests use unique key prefixes, so even a shared REDIS_URL is never clobbered.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const attempts: string[] = [];
  if (process.env.REDIS_URL) {
    project.provide('redisUrl', process.env.REDIS_URL);
    project.provide('redisError', '');
    return async () => {};
  }
  if (dockerMayAnswer()) {
    try {
      const { RedisContainer } = await import('@testcontainers/redis');
      const container = await new RedisContainer('redis:7-alpine').start();
      project.provide('redisUrl', container.getConnectionUrl());
      project.provide('redisError', '');
      return async () => void (await container.stop());
    } catch (error) {
      attempts.push(`testcontainers: ${(error as Error).message}`);
    }
  }
  try {
    const redis = await spawnRedisServer();
    project.provide('redisUrl', redis.url);
    project.provide('redisError', '');
    return () => redis.stop();
  } catch (error) {
    attempts.push(`redis-server: ${(error as Error).message}`);
  }
  project.provide('redisUrl', '');
  project.provide('redisError', `${NO_REDIS_HELP} (${attempts.join('; ')})`);
  return async () => {};
}

function dockerMayAnswer(): boolean {
  return Boolean(process.env.DOCKER_HOST) || existsSync('/var/run/docker.sock');
}
