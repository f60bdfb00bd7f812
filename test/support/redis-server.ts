import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A `redis-server` process this test run owns, on a free port, persisting nothing. */
export interface SpawnedRedis {
  readonly port: number;
  readonly url: string;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/**
 * `options.configFirst`: `extraArgs` start with a config file (and `--sentinel`), which must come
 * first on redis-server's command line; the port and persistence flags follow it.
 */
export async function spawnRedisServer(
  extraArgs: string[] = [],
  port?: number,
  options: { configFirst?: boolean } = {},
): Promise<SpawnedRedis> {
  const chosen = port ?? (await freePort());
  // Its own working directory: a replica writes the RDB it receives there, never into the repo.
  const dir = mkdtempSync(join(tmpdir(), `redis-${chosen}-`));
  const common = ['--port', String(chosen), '--bind', '127.0.0.1', ...(extraArgs.includes('--dir') ? [] : ['--dir', dir])];
  const args = options.configFirst
    ? [...extraArgs, ...common]
    : [...common, '--save', '', '--appendonly', 'no', ...extraArgs];
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections') || output.includes('Sentinel ID is')) {
        child.stdout?.off('data', onData);
        resolve();
      }
    };
    child.stdout?.on('data', onData);
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${output.slice(-500)}`)));
  });
  child.stdout?.resume();
  child.stderr?.resume();
  return {
    port: chosen,
    url: `redis://127.0.0.1:${chosen}`,
    process: child,
    stop: async () => {
      await stopProcess(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}
