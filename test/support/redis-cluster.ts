import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, spawnRedisServer, type SpawnedRedis } from './redis-server.js';

const run = promisify(execFile);

/** A local Redis Cluster of `size` primaries (each with `replicas` replicas), each node a spawned redis-server. */
export interface SpawnedCluster {
  /** `127.0.0.1:p1,127.0.0.1:p2,…`, as REDIS_CLUSTER_NODES takes it. */
  readonly nodes: string;
  /** Every node, primaries and replicas (a test may kill one). */
  readonly servers: readonly SpawnedRedis[];
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** Replicas per primary (default 0). */
  readonly replicas?: number;
  /** `cluster-node-timeout`: how long a primary may be silent before its replica takes over. */
  readonly nodeTimeoutMs?: number;
}

export async function spawnRedisCluster(size = 3, options: ClusterOptions = {}): Promise<SpawnedCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'redis-cluster-'));
  const servers: SpawnedRedis[] = [];
  const replicas = options.replicas ?? 0;
  const timeout = options.nodeTimeoutMs ? ['--cluster-node-timeout', String(options.nodeTimeoutMs)] : [];
  // A replica may take over however long it was apart from its primary (tests kill primaries early on).
  if (replicas > 0) timeout.push('--cluster-replica-validity-factor', '0');
  try {
    for (let i = 0; i < size * (1 + replicas); i++) {
      const port = await freePort();
      servers.push(
        await spawnRedisServer(
          ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--dir', dir, ...timeout],
          port,
        ),
      );
    }
    const addresses = servers.map((s) => `127.0.0.1:${s.port}`);
    await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', String(replicas), '--cluster-yes'], {
      timeout: 30_000,
    });
    await waitForClusterOk(servers.map((s) => s.port));
    if (replicas > 0) await waitForReplicas(servers.map((s) => s.port), size * replicas);
    return {
      nodes: addresses.join(','),
      servers,
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

/** Until `expected` nodes are replicas whose link to their primary is up (and so could take over). */
async function waitForReplicas(ports: number[], expected: number): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    let linked = 0;
    for (const port of ports) {
      const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true });
      await client.connect();
      try {
        const info = String(await client.info('replication'));
        if (info.includes('role:slave') && info.includes('master_link_status:up')) linked++;
      } finally {
        client.disconnect();
      }
    }
    if (linked >= expected) return;
    if (Date.now() > deadline) throw new Error(`only ${linked} of ${expected} replicas linked to their primaries`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
