import type { RedisClient } from './redis-client.js';

/**
 * Request deadlines in Redis server time, for the scripts to compare with their own clock
 * (prelude.lua): a decision the caller has given up on (STORE_TIMEOUT_MS) must never run later, from a
 * queue behind a paused Redis or from a client retry after a Cluster failover.
 *
 * The app host's clock and Redis's may disagree (skew, a stepped clock): the deadline is expressed on
 * Redis's clock, `Date.now() + offset + timeout - margin`, with the offset measured from Redis TIME at
 * connect, on every reconnect, and whenever a script is refused as late sooner than the timeout could
 * explain (the offset went stale). The margin covers the offset's error (half a round trip when it was
 * measured) and the reply's way back, so a script that runs just before the deadline still answers
 * before the caller gives up. On Cluster every node is assumed on NTP time (the limits rely on it too).
 */
export class RedisDeadlines {
  private offsetMs: number | undefined;
  private syncing: Promise<void> | undefined;
  readonly marginMs: number;

  constructor(
    private readonly client: RedisClient,
    private readonly timeoutMs: number,
  ) {
    this.marginMs = Math.min(250, Math.max(20, Math.floor(timeoutMs / 5)));
  }

  /** Measures the offset now; a failure keeps the last one (the next reconnect measures again). */
  sync(): Promise<void> {
    this.syncing ??= this.measure().finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  /** Re-measures when the client is ready again after an outage (a failover may land on another host's clock). */
  watch(): void {
    this.client.on('ready', () => void this.sync());
  }

  /**
   * The deadline (Redis ms) of a command issued now; undefined until the offset is known (a store
   * that could not measure it at connect decides without a deadline rather than not at all).
   */
  deadline(): number | undefined {
    return this.offsetMs === undefined ? undefined : Date.now() + this.offsetMs + this.timeoutMs - this.marginMs;
  }

  /** A script was refused as late `elapsedMs` after it was issued: if that is too soon to be real, the offset is stale. */
  refusedAfter(elapsedMs: number): void {
    if (elapsedMs < this.timeoutMs - this.marginMs) void this.sync();
  }

  private async measure(): Promise<void> {
    try {
      const before = Date.now();
      const [seconds, micros] = (await this.client.time()) as [string | number, string | number];
      const after = Date.now();
      this.offsetMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) - (before + after) / 2;
    } catch {
      // Keep the last offset; the next reconnect or refusal measures again.
    }
  }
}
