import { existsSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { spawnRedisCluster } from './redis-cluster.js';
import { spawnRedisServer } from './redis-server.js';

declare module 'vitest' {
  interface ProvidedContext {
    /** The Redis every Redis suite uses, or '' when none could be had. */
    redisUrl: string;
    /** Why there is no Redis, for the suites to fail with. */
    redisError: string;
    /** A local 3-primary Redis Cluster (`host:port,…`), or '' when none could be had. */
    redisClusterNodes: string;
    redisClusterError: string;
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
  const stopCluster = await setupCluster(project);
  const stopRedis = await setupRedis(project);
  return async () => {
    await Promise.all([stopCluster(), stopRedis()]);
  };
}

/**
 * A 3-primary Redis Cluster for the Cluster suites: `REDIS_CLUSTER_NODES` if set, else
 * spawned `redis-server --cluster-enabled yes` processes joined with `redis-cli --cluster create`.
 */
async function setupCluster(project: TestProject): Promise<() => Promise<void>> {
  if (process.env.REDIS_CLUSTER_NODES) {
    project.provide('redisClusterNodes', process.env.REDIS_CLUSTER_NODES);
    project.provide('redisClusterError', '');
    return async () => {};
  }
  try {
    const cluster = await spawnRedisCluster(3);
    project.provide('redisClusterNodes', cluster.nodes);
    project.provide('redisClusterError', '');
    return () => cluster.stop();
  } catch (error) {
    project.provide('redisClusterNodes', '');
    project.provide(
      'redisClusterError',
      `The Redis Cluster suites need redis-server and redis-cli 7 on the PATH, or REDIS_CLUSTER_NODES (${(error as Error).message})`,
    );
    return async () => {};
  }
}

async function setupRedis(project: TestProject): Promise<() => Promise<void>> {
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
