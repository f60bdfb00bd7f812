import { CircuitState, ConsecutiveBreaker, circuitBreaker, handleWhenResult, isBrokenCircuitError } from 'cockatiel';
import type { SmsMessage, SmsOutcome, SmsProvider } from '../domain/sms-provider.js';

export interface BreakerOptions {
  /** Consecutive outage-like failures that open the circuit. */
  readonly threshold: number;
  /** How long the circuit stays open before one probe is let through. */
  readonly cooldownMs: number;
}

/** Where the circuit stands: `open` fails sends fast until the cooldown has passed and a send probes. */
export type BreakerState = 'closed' | 'open' | 'half_open' | 'isolated';

export const BREAKER_STATES: readonly BreakerState[] = ['closed', 'open', 'half_open', 'isolated'];

/** A provider behind a circuit breaker, which tells where its circuit stands (for the metrics). */
export interface BreakerGuardedProvider extends SmsProvider {
  breakerState(): BreakerState;
}

export function hasBreaker(provider: SmsProvider): provider is BreakerGuardedProvider {
  return typeof (provider as Partial<BreakerGuardedProvider>).breakerState === 'function';
}

const STATE_NAMES: Record<CircuitState, BreakerState> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half_open',
  [CircuitState.Isolated]: 'isolated',
};

/**
 * A failure that says the provider (or the way to it) is down, rather than that this one
 * message was refused: business errors (`isv.*`: bad number, flow control, …) do not count.
 */
export function isOutage(outcome: SmsOutcome): boolean {
  return !outcome.ok && (outcome.failure === 'failed' || outcome.failure === 'unconfirmed') && !outcome.providerCode.startsWith('isv.');
}

/**
 * Fails sends fast (`unavailable`, provider code `CircuitOpen`) after `threshold` outages in a
 * row, so a dead provider costs callers no timeouts; after `cooldownMs` one send probes it and
 * its outcome closes or reopens the circuit. Built on cockatiel's circuit breaker.
 */
export function withCircuitBreaker(provider: SmsProvider, options: BreakerOptions): BreakerGuardedProvider {
  const policy = circuitBreaker(handleWhenResult((result) => isOutage(result as SmsOutcome)), {
    halfOpenAfter: options.cooldownMs,
    breaker: new ConsecutiveBreaker(options.threshold),
  });
  return {
    name: provider.name,
    async send(message: SmsMessage): Promise<SmsOutcome> {
      try {
        return await policy.execute(() => provider.send(message));
      } catch (error) {
        if (isBrokenCircuitError(error)) return { ok: false, failure: 'unavailable', providerCode: 'CircuitOpen' };
        throw error;
      }
    },
    close: () => provider.close?.() ?? Promise.resolve(),
    breakerState: () => STATE_NAMES[policy.state],
  };
}
