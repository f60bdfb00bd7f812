import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, spawnRedisServer, type SpawnedRedis } from './redis-server.js';

const run = promisify(execFile);

/** A local Redis Cluster of `size` primaries (no replicas), each a spawned redis-server. */
export interface SpawnedCluster {
  /** `127.0.0.1:p1,127.0.0.1:p2,…`, as REDIS_CLUSTER_NODES takes it. */
  readonly nodes: string;
  stop(): Promise<void>;
}

export async function spawnRedisCluster(size = 3): Promise<SpawnedCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'redis-cluster-'));
  const servers: SpawnedRedis[] = [];
  try {
    for (let i = 0; i < size; i++) {
      const port = await freePort();
      servers.push(
        await spawnRedisServer(
          ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--dir', dir],
          port,
        ),
      );
    }
    const addresses = servers.map((s) => `127.0.0.1:${s.port}`);
    await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'], {
      timeout: 30_000,
    });
    await waitForClusterOk(servers.map((s) => s.port));
    return {
      nodes: addresses.join(','),
      stop: async () => {
        await Promise.all(servers.map((s) => s.stop()));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

async function waitForClusterOk(ports: number[]): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (const port of ports) {
    const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true });
    await client.connect();
    try {
      for (;;) {
        const info = await client.cluster('INFO');
        if (String(info).includes('cluster_state:ok')) break;
        if (Date.now() > deadline) throw new Error(`cluster on ${port} not ok: ${info}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      client.disconnect();
    }
  }
}
