import cluster from 'node:cluster';
import { randomUUID } from 'node:crypto';
import { AggregatorRegistry, type Registry } from 'prom-client';

/*
 * With WORKERS > 1 each worker counts on its own registry. `/metrics` must answer for the whole
 * process group, or a scrape sees one worker's counters (5, 6, 5, 6… looks like counter resets):
 *
 *   worker (answering /metrics) --ask--> primary --prom-client getMetricsReq--> every worker
 *   worker <--aggregated text--- primary <--each worker's registry as JSON----- every worker
 *
 * prom-client's AggregatorRegistry does the fan-out and the sums (counters, histograms; gauges by
 * their `aggregator`); this module only carries the worker's question to the primary and back.
 */

const ASK = 'sms-verify:cluster-metrics:ask';
const ANSWER = 'sms-verify:cluster-metrics:answer';

interface Ask {
  readonly type: typeof ASK;
  readonly id: string;
}

interface Answer {
  readonly type: typeof ANSWER;
  readonly id: string;
  readonly text?: string;
  readonly error?: string;
}

function isAsk(message: unknown): message is Ask {
  return typeof message === 'object' && message !== null && (message as Ask).type === ASK;
}

function isAnswer(message: unknown): message is Answer {
  return typeof message === 'object' && message !== null && (message as Answer).type === ANSWER;
}

/** In the primary: answers every worker's question with the metrics of all workers, summed. */
export function serveClusterMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message: unknown) => {
    if (!isAsk(message)) return;
    const reply = (answer: Omit<Answer, 'type' | 'id'>): void => {
      if (worker.isConnected()) worker.send({ type: ANSWER, id: message.id, ...answer } satisfies Answer);
    };
    aggregator.clusterMetrics().then(
      (text) => reply({ text }),
      (error: unknown) => reply({ error: error instanceof Error ? error.message : 'aggregation failed' }),
    );
  });
}

let answering = false;

/**
 * In a worker, as early as it starts: answers the primary's requests for this worker's metrics
 * (with none until `joinClusterMetrics` offers the app's registry), so that a worker still starting
 * never keeps the others' metrics from being served. prom-client installs the listener when an
 * AggregatorRegistry is first constructed.
 */
export function answerPrimary(): void {
  if (answering) return;
  answering = true;
  AggregatorRegistry.setRegistries([]);
  new AggregatorRegistry();
}

export class ClusterMetricsError extends Error {
  override readonly name = 'ClusterMetricsError';
}

/**
 * In a worker: offers `registry` to the primary's aggregation, and returns how to ask the primary
 * for the whole group's metrics (rejects with a ClusterMetricsError after `timeoutMs` or when the
 * primary could not collect every worker's).
 */
export function joinClusterMetrics(registry: Registry, timeoutMs = 10_000): () => Promise<string> {
  answerPrimary();
  AggregatorRegistry.setRegistries([registry]);
  const pending = new Map<string, { resolve: (text: string) => void; reject: (error: Error) => void }>();
  process.on('message', (message: unknown) => {
    if (!isAnswer(message)) return;
    const waiting = pending.get(message.id);
    if (!waiting) return;
    pending.delete(message.id);
    if (message.text !== undefined) waiting.resolve(message.text);
    else waiting.reject(new ClusterMetricsError(message.error ?? 'no answer'));
  });
  return () =>
    new Promise<string>((resolve, reject) => {
      const id = randomUUID();
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new ClusterMetricsError(`the primary did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      pending.set(id, {
        resolve: (text) => {
          clearTimeout(timer);
          resolve(text);
        },
        reject: (error) => {
          pending.delete(id);
          clearTimeout(timer);
          reject(error);
        },
      });
      const fail = (): void => pending.get(id)?.reject(new ClusterMetricsError('no channel to the primary'));
      if (!process.send || !process.connected) return fail();
      process.send({ type: ASK, id } satisfies Ask, undefined, {}, (error) => {
        if (error) fail();
      });
    });
}
