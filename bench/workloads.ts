/** The workloads: what each one starts, populates and measures. */
import { FLOW_PHONE_BASE, log, SEND_PHONE_BASE } from './common.js';
import { measureServer, spec, type WorkloadOutcome } from './measure.js';
import type { Options, WorkloadName } from './options.js';
import { measureRedisMemory, populate, usedMemory, type RedisMemory } from './redis-memory.js';
import { startBaseline, startService, withServer, type Env } from './service.js';

const DESCRIPTIONS: Record<WorkloadName, string> = {
  baseline: 'bare Fastify route, one EVALSHA (INCR) on the same Redis',
  send: 'POST /v1/verifications, a new phone every request (Aliyun SDK → local double)',
  'send-log': 'the send workload with SMS_PROVIDER=log (no provider call: the service and store alone, as issue 13 measured)',
  check: `POST /v1/verifications/check, wrong code, random one of N phones holding codes (Redis)`,
  flow: 'send, then check the right code (EXPOSE_CODE=true), chained per connection',
  'check-memory': 'the check workload on the in-memory store (no REDIS_URL)',
};

export async function runWorkload(name: WorkloadName, env: Env, options: Options, memoryOut: { value?: RedisMemory }): Promise<WorkloadOutcome> {
  await env.redisClient.flushall();
  switch (name) {
    case 'baseline':
      return withServer(
        () => startBaseline(env, options),
        (server) => measureServer(server, env, spec(options, 'baseline', server.url), name, DESCRIPTIONS[name], 'redis', [200]),
      );
    case 'send':
      return withServer(
        () => startService(env, name, options, { redis: true, exposeCode: false }),
        (server) => measureServer(server, env, spec(options, 'send', server.url, SEND_PHONE_BASE), name, DESCRIPTIONS[name], 'redis', [201]),
      );
    case 'send-log':
      return withServer(
        () => startService(env, name, options, { redis: true, exposeCode: false, logProvider: true }),
        (server) => measureServer(server, env, spec(options, 'send', server.url, SEND_PHONE_BASE + 20_000_000), name, DESCRIPTIONS[name], 'redis', [201]),
      );
    case 'flow':
      return withServer(
        () => startService(env, name, options, { redis: true, exposeCode: true }),
        (server) => measureServer(server, env, spec(options, 'flow', server.url, FLOW_PHONE_BASE), name, DESCRIPTIONS[name], 'redis', [201, 200]),
      );
    case 'check':
    case 'check-memory': {
      const redis = name === 'check';
      return withServer(
        () => startService(env, name, options, { redis, exposeCode: false }),
        async (server) => {
          const usedBefore = await usedMemory(env.redisClient);
          log(`${name}: populating ${options.phones} phones with codes…`);
          const population = await populate(server.url, options.phones);
          log(`${name}: populated in ${population.seconds.toFixed(1)} s (${population.resends} re-sends)`);
          if (redis) memoryOut.value = await measureRedisMemory(env.redisClient, options.phones, usedBefore);
          const outcome = await measureServer(server, env, spec(options, 'check', server.url), name, DESCRIPTIONS[name], redis ? 'redis' : 'memory', [422]);
          return { ...outcome, population };
        },
      );
    }
  }
}

export async function runWorkersScaling(env: Env, options: Options, counts: number[]): Promise<WorkloadOutcome[]> {
  const outcomes: WorkloadOutcome[] = [];
  for (const workers of counts) {
    await env.redisClient.flushall();
    const name = `check WORKERS=${workers}`;
    log(`running ${name}`);
    const outcome = await withServer(
      () => startService(env, `check-workers${workers}`, options, { redis: true, exposeCode: false, workers }),
      async (server) => {
        const population = await populate(server.url, options.phones);
        const measured = await measureServer(server, env, spec(options, 'check', server.url), name, DESCRIPTIONS.check, 'redis', [422]);
        return { ...measured, population, workers };
      },
    );
    outcomes.push(outcome);
  }
  return outcomes;
}

