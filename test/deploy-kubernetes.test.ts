import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { buildApp } from '../plugins/app.js';
import { EnvSchema, loadConfig } from '../src/config/config.js';

const DIR = 'deploy/kubernetes';

interface Manifest {
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly labels?: Record<string, string>; readonly annotations?: Record<string, string> };
  readonly spec?: any;
  readonly data?: Record<string, string>;
  readonly file: string;
}

function manifests(): Manifest[] {
  return readdirSync(DIR)
    .filter((file) => file.endsWith('.yaml') && file !== 'kustomization.yaml')
    .flatMap((file) =>
      parseAllDocuments(readFileSync(join(DIR, file), 'utf8')).map((doc) => {
        expect(doc.errors, file).toEqual([]);
        return { ...(doc.toJS() as Omit<Manifest, 'file'>), file };
      }),
    );
}

function one(all: Manifest[], kind: string): Manifest {
  const found = all.filter((m) => m.kind === kind);
  expect(found.map((m) => m.file), kind).toHaveLength(1);
  return found[0] as Manifest;
}

const KNOWN_VARIABLES = new Set(Object.keys(EnvSchema.properties));
/** Variables that hold secrets: never in a ConfigMap, always from a Secret. */
const SECRETS = ['CODE_SECRET', 'API_KEYS', 'REDIS_URL', 'ALIBABA_CLOUD_ACCESS_KEY_ID', 'ALIBABA_CLOUD_ACCESS_KEY_SECRET'];
/** Values of the right shape for the Secret's keys, to load the whole configuration as a pod would. */
const SECRET_VALUES: Record<string, string> = {
  CODE_SECRET: 'a-code-secret-of-32-characters!!',
  API_KEYS: 'shop:0123456789abcdef0123',
  REDIS_URL: 'redis://:password@redis:6379/0',
  ALIBABA_CLOUD_ACCESS_KEY_ID: 'LTAI-example',
  ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'example-secret',
};

/** Bytes of a Kubernetes memory quantity (Mi, Gi, M, G or plain bytes). */
function bytes(quantity: string): number {
  const match = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|K|M|G)?$/.exec(quantity);
  if (!match) throw new Error(`not a memory quantity: ${quantity}`);
  const unit = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, K: 1e3, M: 1e6, G: 1e9 }[match[2] ?? ''] ?? 1;
  return Number(match[1]) * unit;
}

describe('Kubernetes manifests (deploy/kubernetes)', () => {
  const all = manifests();
  const configMap = one(all, 'ConfigMap');
  const deployment = one(all, 'Deployment');
  const service = one(all, 'Service');
  const pdb = one(all, 'PodDisruptionBudget');
  const pod = deployment.spec.template;
  const container = pod.spec.containers[0];
  const env = configMap.data ?? {};
  const setting = (name: string): string | number | undefined => env[name] ?? (EnvSchema.properties as Record<string, { default?: string | number }>)[name]?.default;

  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildApp(loadConfig({ LOG_LEVEL: 'silent' }), { logger: false });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
  });

  it('lists every manifest in kustomization.yaml, each file existing', () => {
    const kustomization = parseAllDocuments(readFileSync(join(DIR, 'kustomization.yaml'), 'utf8'))[0]?.toJS() as { resources: string[] };
    for (const resource of kustomization.resources) expect(existsSync(join(DIR, resource)), resource).toBe(true);
    for (const manifest of [configMap, deployment, service, pdb]) expect(kustomization.resources).toContain(manifest.file);
  });

  it('names only variables of the service configuration, and takes the secrets from a Secret', () => {
    const fromConfigMap = Object.keys(env);
    const fromEnv = (container.env as Array<{ name: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }>) ?? [];
    for (const name of [...fromConfigMap, ...fromEnv.map((e) => e.name)]) {
      expect(KNOWN_VARIABLES.has(name), `${name} is not in src/config/config.ts EnvSchema`).toBe(true);
    }
    expect(container.envFrom).toEqual([{ configMapRef: { name: configMap.metadata.name } }]);
    for (const secret of SECRETS) {
      expect(fromConfigMap, `${secret} must not be in the ConfigMap`).not.toContain(secret);
      expect(fromEnv.find((e) => e.name === secret)?.valueFrom?.secretKeyRef, `${secret} from a Secret`).toMatchObject({
        name: 'sms-verify-secrets',
        key: secret,
      });
    }
  });

  it('is a configuration the service accepts, in production mode with the Aliyun provider and Redis', () => {
    const config = loadConfig({ ...env, ...SECRET_VALUES });
    expect(env.NODE_ENV).toBe('production');
    expect(config.smsProvider).toBe('aliyun');
    expect(config.redis).toEqual({ kind: 'single', url: SECRET_VALUES.REDIS_URL });
    expect(config.apiKeys).toHaveLength(1);
    expect(config.limits.global.length).toBeGreaterThan(0);
  });

  it('serves, probes and scrapes on the port the service listens on', () => {
    const port = Number(setting('PORT'));
    const ports = container.ports as Array<{ name: string; containerPort: number }>;
    expect(ports).toEqual([expect.objectContaining({ name: 'http', containerPort: port })]);
    for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
      expect([port, 'http'], probe).toContain(container[probe].httpGet.port);
    }
    expect(service.spec.ports).toEqual([expect.objectContaining({ targetPort: 'http' })]);
    expect(pod.metadata.annotations['prometheus.io/port']).toBe(String(port));
  });

  it('probes /readyz for readiness and /healthz for liveness, routes the service has', () => {
    expect(container.readinessProbe.httpGet.path).toBe('/readyz');
    expect(container.livenessProbe.httpGet.path).toBe('/healthz');
    expect(container.startupProbe.httpGet.path).toBe('/healthz');
    const paths = [container.readinessProbe, container.livenessProbe, container.startupProbe].map((p) => p.httpGet.path);
    for (const path of [...paths, pod.metadata.annotations['prometheus.io/path']]) {
      expect(app.hasRoute({ method: 'GET', url: path }), `GET ${path}`).toBe(true);
    }
    // /readyz waits up to STORE_TIMEOUT_MS for the store: the probe must wait longer
    expect(container.readinessProbe.timeoutSeconds * 1000).toBeGreaterThan(Number(setting('STORE_TIMEOUT_MS')));
  });

  it('gives the drain its whole SHUTDOWN_TIMEOUT_MS before SIGKILL, after the preStop sleep', () => {
    const preStop = container.lifecycle.preStop.exec.command as string[];
    expect(preStop[0]).toBe('sleep');
    const preStopMs = Number(preStop[1]) * 1000;
    expect(pod.spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(preStopMs + Number(setting('SHUTDOWN_TIMEOUT_MS')));
  });

  it('sizes memory from the bench (RSS ~170-290 MB per process under load) for the configured WORKERS', () => {
    const workers = Number(setting('WORKERS'));
    const { requests, limits } = container.resources;
    expect(bytes(requests.memory)).toBeGreaterThanOrEqual(170e6 * workers);
    expect(bytes(limits.memory)).toBeGreaterThanOrEqual(290e6 * workers + (workers > 1 ? 100e6 : 0));
    expect(bytes(limits.memory)).toBeGreaterThanOrEqual(bytes(requests.memory));
    expect(requests.cpu).toBeDefined();
  });

  it('selects its own pods from the Service and the PodDisruptionBudget, and keeps one up', () => {
    const podLabels = pod.metadata.labels as Record<string, string>;
    for (const selector of [deployment.spec.selector.matchLabels, service.spec.selector, pdb.spec.selector.matchLabels]) {
      for (const [key, value] of Object.entries(selector as Record<string, string>)) expect(podLabels[key]).toBe(value);
    }
    expect(pdb.spec.minAvailable).toBeGreaterThanOrEqual(1);
    expect(pdb.spec.minAvailable).toBeLessThan(deployment.spec.replicas);
  });

  it('has a ServiceMonitor that scrapes the Service port at /metrics', () => {
    const monitor = one(all, 'ServiceMonitor');
    const [endpoint] = monitor.spec.endpoints as Array<{ port: string; path: string }>;
    expect(service.spec.ports.map((p: { name: string }) => p.name)).toContain(endpoint?.port);
    expect(endpoint?.path).toBe('/metrics');
    for (const [key, value] of Object.entries(monitor.spec.selector.matchLabels as Record<string, string>)) {
      expect(service.metadata.labels?.[key]).toBe(value);
    }
  });
});
