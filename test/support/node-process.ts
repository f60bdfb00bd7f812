import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

export interface NodeProcess {
  readonly child: ChildProcessWithoutNullStreams;
  /** Resolves with the exit code. */
  readonly exited: Promise<number | null>;
  stdout(): string;
  stderr(): string;
  /** Resolves with the first match of `pattern` in stdout; rejects if the process exits first. */
  waitForOutput(pattern: RegExp): Promise<RegExpExecArray>;
}

export interface ServerProcess extends NodeProcess {
  /** The `http://127.0.0.1:<port>` the server says it listens at (with `WORKERS`, the first one's). */
  readonly listening: Promise<string>;
  output(): { stdout: string; stderr: string };
}

/** `server.ts` (through tsx, as `npm run dev` runs it), on an ephemeral loopback port unless `env` says otherwise. */
export function startServer(env: Record<string, string>): ServerProcess {
  return serverOf(spawnTsx('server.ts', [], { PORT: '0', HOST: '127.0.0.1', ...env }));
}

/** The compiled `dist/server.js` as `npm start` and the Docker image run it (after `npm run build`). */
export function startCompiledServer(env: Record<string, string>): ServerProcess {
  return serverOf(spawnNode(['dist/server.js'], { PORT: '0', HOST: '127.0.0.1', ...env }));
}

function serverOf(run: NodeProcess): ServerProcess {
  const listening = run.waitForOutput(/Server listening at (http:\/\/127\.0\.0\.1:\d+)/).then((match) => match[1] as string);
  listening.catch(() => {}); // awaited only by the tests that expect the server to come up
  return { ...run, listening, output: () => ({ stdout: run.stdout(), stderr: run.stderr() }) };
}

/**
 * `node --import tsx <script> …args` from the repo root, as `npm run dev` / `npm run …` run it, with only
 * PATH, HOME and `env` in its environment, its output collected.
 */
export function spawnTsx(script: string, args: string[], env: Record<string, string>): NodeProcess {
  return spawnNode(['--import', 'tsx', script, ...args], env);
}

/** `node …args` (this test run's Node) from the repo root, with only PATH, HOME and `env` in its environment. */
export function spawnNode(args: string[], env: Record<string, string>): NodeProcess {
  const child = spawn(process.execPath, args, {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.end();
  let stdout = '';
  let stderr = '';
  const watchers = new Set<() => void>();
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    for (const watcher of watchers) watcher();
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const waitForOutput = (pattern: RegExp): Promise<RegExpExecArray> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(stdout);
        if (!match) return;
        watchers.delete(check);
        resolve(match);
      };
      watchers.add(check);
      check();
      void exited.then((code) => reject(new Error(`process exited with ${code} before ${pattern}: ${stderr}`)));
    });
  return { child, exited, stdout: () => stdout, stderr: () => stderr, waitForOutput };
}
