import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopProcess } from './redis-server.js';

export interface SpawnedNginx {
  readonly port: number;
  readonly process: ChildProcess;
  stop(): Promise<void>;
}

export const NO_NGINX_HELP = 'The reverse-proxy suite needs nginx on the PATH (Debian/Ubuntu: apt-get install nginx-light).';

export interface NginxOptions {
  /**
   * `replace` (default): X-Forwarded-For is the client's address, whatever the client sent, like a proxy
   * at the edge of a deployment should. `append`: the common `$proxy_add_x_forwarded_for`, which keeps
   * what the client sent and adds the client's address at the end (what `TRUST_PROXY=1` is for).
   */
  readonly forwardedFor?: 'replace' | 'append';
}

/** nginx in front of `upstreams` (round robin), listening on 127.0.0.1:`port`. */
export async function spawnNginx(port: number, upstreams: number[], options: NginxOptions = {}): Promise<SpawnedNginx> {
  const forwardedFor = options.forwardedFor === 'append' ? '$proxy_add_x_forwarded_for' : '$remote_addr';
  const dir = mkdtempSync(join(tmpdir(), 'nginx-'));
  for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, sub));
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `${process.getuid?.() === 0 ? 'user root;' : ''}
# One process: stopping it leaves no orphaned workers behind.
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  upstream service {
${upstreams.map((p) => `    server 127.0.0.1:${p};`).join('\n')}
    keepalive 16;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://service;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For ${forwardedFor};
    }
  }
}
`,
  );
  const child = spawn('nginx', ['-p', dir, '-c', conf, '-g', 'daemon off;'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdout?.resume();
  const exited = new Promise<never>((_, reject) => {
    child.once('error', (error) => reject(new Error(`${NO_NGINX_HELP} (${error.message})`)));
    child.once('exit', (code) => reject(new Error(`nginx exited with ${code}: ${stderr}`)));
  });
  await Promise.race([waitForHttp(port), exited]);
  return {
    port,
    process: child,
    stop: async () => {
      await stopProcess(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function waitForHttp(port: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const req = request({ host: '127.0.0.1', port, path: '/healthz' }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
      req.end();
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nginx on ${port} did not answer`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
