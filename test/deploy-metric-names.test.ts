import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { FakeDysmsapi } from '../tools/fake-dysmsapi/fake-dysmsapi.js';
import { aliyunEnv } from './support/aliyun-env.js';
import { startServer, type ServerProcess } from './support/node-process.js';
import { samples } from './support/prometheus.js';

const DASHBOARD = 'deploy/grafana/sms-verify.json';
const ALERTS = 'deploy/prometheus/alerts.yml';

/** A series selector in a query: the metric name and the label names its matchers use. */
interface Selector {
  readonly metric: string;
  readonly labels: readonly string[];
}

const KEYWORDS = new Set([
  ...['and', 'or', 'unless', 'bool', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'inf', 'nan'],
  // aggregation operators, which may stand before `by (…)` rather than their parenthesis
  ...['sum', 'min', 'max', 'avg', 'count', 'stddev', 'stdvar', 'topk', 'bottomk', 'quantile', 'count_values', 'group'],
]);
/** Labels Prometheus adds when it scrapes, which the service's own text does not carry. */
const SCRAPE_LABELS = new Set(['instance', 'job']);

/** Every metric a PromQL expression selects, with the label names of its matchers. */
function selectors(expr: string): Selector[] {
  const text = expr
    .replace(/\$\{[^}]*\}|\$\w+/g, '') // Grafana variables ($__rate_interval, $instance)
    .replace(/\[[^\]]*\]/g, '') // ranges
    .replace(/\boffset\s+\S+/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '$1'); // grouping label lists
  const found: Selector[] = [];
  // Name with matchers, or a bare name (not a function call, a keyword or part of a number).
  const pattern = /(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*(\{(?:[^}"]|"(?:[^"\\]|\\.)*")*\})|(?<![\w.:"])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:]*\s*\()/g;
  for (const match of text.matchAll(pattern)) {
    if (match[2] !== undefined) {
      const labels = [...match[2].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)].map((m) => m[1] as string);
      const name = match[1] ?? /__name__\s*=\s*"([^"]+)"/.exec(match[2])?.[1];
      if (!name) throw new Error(`a selector without a metric name in: ${expr}`);
      found.push({ metric: name, labels: labels.filter((label) => label !== '__name__') });
    } else if (match[3] && !KEYWORDS.has(match[3].toLowerCase())) {
      found.push({ metric: match[3], labels: [] });
    }
  }
  return found;
}

interface Query {
  readonly where: string;
  readonly expr: string;
}

function dashboardQueries(): Query[] {
  interface Panel {
    title?: string;
    targets?: Array<{ expr?: string }>;
    panels?: Panel[];
  }
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
    panels: Panel[];
    templating: { list: Array<{ name: string; query?: string | { query?: string } }> };
  };
  const queries: Query[] = [];
  const visit = (panel: Panel) => {
    for (const target of panel.targets ?? []) {
      if (target.expr) queries.push({ where: `dashboard panel "${panel.title}"`, expr: target.expr });
    }
    panel.panels?.forEach(visit);
  };
  dashboard.panels.forEach(visit);
  for (const variable of dashboard.templating.list) {
    const query = typeof variable.query === 'string' ? variable.query : variable.query?.query;
    // label_values(<metric or selector>, <label>): the first argument names a metric
    const labelValues = query && /^label_values\((.+),\s*\w+\)$/.exec(query);
    if (labelValues) queries.push({ where: `dashboard variable $${variable.name}`, expr: labelValues[1] as string });
  }
  return queries;
}

function alertQueries(): Query[] {
  const rules = parse(readFileSync(ALERTS, 'utf8')) as { groups: Array<{ rules: Array<{ alert?: string; record?: string; expr: string }> }> };
  return rules.groups.flatMap((group) => group.rules.map((rule) => ({ where: `alert ${rule.alert ?? rule.record}`, expr: String(rule.expr) })));
}

describe('the Grafana dashboard', () => {
  it('is importable: unique panel ids inside the 24-column grid, every query on the $datasource variable', () => {
    interface Panel {
      id: number;
      type: string;
      gridPos: { x: number; y: number; w: number; h: number };
      datasource?: { uid?: string };
      targets?: Array<{ refId: string; datasource?: { uid?: string } }>;
    }
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as {
      uid: string;
      title: string;
      panels: Panel[];
      templating: { list: Array<{ name: string; type: string; query?: unknown }> };
    };
    expect(dashboard.uid).toMatch(/^[a-z0-9-]{1,40}$/);
    expect(dashboard.templating.list).toContainEqual(expect.objectContaining({ name: 'datasource', type: 'datasource', query: 'prometheus' }));
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of dashboard.panels) {
      expect(panel.gridPos.x + panel.gridPos.w, `panel ${panel.id}`).toBeLessThanOrEqual(24);
      if (panel.type === 'row') continue;
      expect(panel.datasource?.uid, `panel ${panel.id}`).toBe('${datasource}');
      expect(panel.targets?.length, `panel ${panel.id}`).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) expect(target.datasource?.uid).toBe('${datasource}');
    }
  });
});

describe('extracting metric names from PromQL', () => {
  it('finds the selected metrics and their matchers, not functions, keywords, labels, numbers or variables', () => {
    expect(
      selectors(
        'histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket{route=~"/v1/.*",instance=~"$instance"}[$__rate_interval]))) > 1e3',
      ),
    ).toEqual([{ metric: 'http_request_duration_seconds_bucket', labels: ['route', 'instance'] }]);
    expect(selectors('(sum by (limit) (rate(a_total[5m])) > 0.5) unless on (limit) (b < 4 * sum(rate(c_total[1h] offset 5m)))')).toEqual([
      { metric: 'a_total', labels: [] },
      { metric: 'b', labels: [] },
      { metric: 'c_total', labels: [] },
    ]);
    expect(selectors('absent(up) or min(store_connected) == 0')).toEqual([
      { metric: 'up', labels: [] },
      { metric: 'store_connected', labels: [] },
    ]);
  });
});

/**
 * The dashboard and the alert rules must only name metrics the service exports. The service runs as
 * users run it (server.ts, the Aliyun provider against the Dysmsapi double, a global budget set), and
 * is exercised first so that labelled series exist: sends, a refusal, checks, a notice, a provider failure.
 */
describe('every metric the dashboard and the alert rules name', () => {
  let fake: FakeDysmsapi;
  let server: ServerProcess;
  let metricsText: string;

  beforeAll(async () => {
    fake = await FakeDysmsapi.start();
    server = startServer(aliyunEnv(fake.url, { GLOBAL_SEND_LIMITS: '1000/1d', SEND_LIMITS: '1/60s', EXPOSE_CODE: 'true' }));
    const base = await server.listening;
    const post = async (url: string, body: object) => {
      const res = await fetch(`${base}${url}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    const sent = await post('/v1/verifications', { phone: '+8613800000001', channel: 'login' });
    expect(sent.status).toBe(201);
    expect((await post('/v1/verifications', { phone: '+8613800000001', channel: 'login' })).status).toBe(429);
    expect((await post('/v1/verifications/check', { phone: '+8613800000001', channel: 'login', code: sent.body.code })).status).toBe(200);
    expect((await post('/v1/notifications', { phone: '+8613800000002', channel: 'orders', templateCode: 'SMS_1' })).status).toBe(201);
    fake.respondWith({ kind: 'http', status: 503, code: 'ServiceUnavailable' }, 1);
    expect((await post('/v1/verifications', { phone: '+8613800000003', channel: 'login' })).status).toBe(502);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    metricsText = await res.text();
  });

  afterAll(async () => {
    server?.child.kill('SIGTERM');
    await server?.exited;
    await fake?.close();
  });

  /** `# TYPE` of every family; the sample names a histogram family adds. */
  function families(text: string): Map<string, string> {
    const types = new Map<string, string>();
    for (const [, name, type] of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) types.set(name as string, type as string);
    return types;
  }

  /** The family a sample name belongs to: itself, or a histogram/summary for its _bucket/_sum/_count. */
  function familyOf(name: string, types: Map<string, string>): string | undefined {
    if (types.has(name)) return name;
    const suffix = /^(.*)_(bucket|sum|count)$/.exec(name);
    if (!suffix) return undefined;
    const base = suffix[1] as string;
    const type = types.get(base);
    if (type === 'histogram' || (type === 'summary' && suffix[2] !== 'bucket')) return base;
    return undefined;
  }

  // store_errors_total has series only once a store operation has failed, which this run does not
  // provoke (test/metrics.test.ts does); its family must still be declared.
  const MAY_HAVE_NO_SERIES = new Set(['store_errors_total']);

  it.each([
    ['the Grafana dashboard', dashboardQueries],
    ['the Prometheus alert rules', alertQueries],
  ])('in %s is exported by the running service, with the labels its matchers use', (_name, queries) => {
    const types = families(metricsText);
    const series = samples(metricsText);
    const list = queries();
    expect(list.length).toBeGreaterThan(5);
    const problems: string[] = [];
    const seen = new Set<string>();
    for (const { where, expr } of list) {
      const found = selectors(expr);
      if (found.length === 0) problems.push(`${where}: no metric in ${expr}`);
      for (const { metric, labels } of found) {
        seen.add(metric);
        const family = familyOf(metric, types);
        if (!family) {
          problems.push(`${where}: ${metric} is not exported`);
          continue;
        }
        const ofMetric = series.filter((s) => s.name === metric);
        if (ofMetric.length === 0 && !MAY_HAVE_NO_SERIES.has(metric)) {
          problems.push(`${where}: ${metric} has no series after sends, checks, a notice and a provider failure`);
        }
        for (const label of labels) {
          if (SCRAPE_LABELS.has(label)) continue;
          if (ofMetric.length > 0 && !ofMetric.some((s) => label in s.labels)) problems.push(`${where}: ${metric} has no label ${label}`);
        }
      }
    }
    expect(problems).toEqual([]);
    expect(seen.size).toBeGreaterThan(5);
  });

  it('covers the state gauges and the service counters on the dashboard', () => {
    const named = new Set(dashboardQueries().flatMap(({ expr }) => selectors(expr).map((s) => s.metric)));
    for (const metric of [
      'http_requests_total',
      'sms_code_sends_total',
      'sms_code_checks_total',
      'sms_rate_limit_refusals_total',
      'sms_provider_errors_total',
      'sms_provider_circuit_state',
      'store_connected',
      'store_errors_total',
      'sms_global_send_limit',
      'sms_verify_build_info',
    ]) {
      expect(named, metric).toContain(metric);
    }
  });
});
