import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSendLimits } from '../src/config/send-limits.js';
import type { AuditContext } from '../src/domain/audit/audit.js';
import type { SendWindow } from '../src/domain/limits/send-window.js';
import type { SendKind, SendLimits, SendPlan, Subject, VerificationStore } from '../src/domain/store.js';
import { planNotice, planSend } from '../src/domain/verification/rules.js';
import { MemoryStore } from '../src/stores/memory/memory-store.js';
import { connectRedisStore } from '../src/stores/redis/redis-store.js';
import { parseHostPorts } from '../src/config/redis-topology.js';
import { TEST_AUDIT, requireClusterNodes, requireRedisUrl, uniquePrefix } from './support/stores.js';

/**
 * Model-based proof that every store follows the same rules (src/domain/verification/rules.ts):
 * random sequences of reserves (codes and notices), commits (sent or unconfirmed, with the limits an
 * unconfirmed send then fills), releases, checks (per client IP too; by phone and channel, by
 * verification id, with idempotency keys), cancels, status reads, delivery reports and clock steps
 * run on the memory store,
 * one Redis and the 3-primary Cluster, with every limit family on and counts small enough that
 * refusals happen. Every answer and every audit event (its fields) must be the same on all three.
 * Time is a logical clock all three stores decide at (the Redis stores take it through their
 * test-only `clock` option instead of Redis TIME).
 */

function windows(text: string): SendWindow[] {
  const parsed = parseSendLimits(text);
  if (typeof parsed === 'string') throw new Error(parsed);
  return parsed;
}

/** Per channel: its own windows (SEND_LIMITS-like, the first with count 1 is the resend interval) and code TTL. */
const CHANNELS = {
  login: { windows: windows('1/60s,3/10m'), ttlMs: 180_000 },
  pay: { windows: windows('2/5m'), ttlMs: 120_000 },
} as const;
type ChannelName = keyof typeof CHANNELS;
const PHONES = ['+8613800000001', '+8613800000002'];
const IPS = ['10.0.0.1', '10.0.0.2', undefined];
const PHONE_LIMITS = windows('4/10m');
const IP_LIMITS = windows('3/5m');
const GLOBAL_LIMITS = windows('5/10m');
const FAILURE_LIMITS = windows('3/10m');
const NOTICE_LIMITS = windows('1/60s,2/5m');
const IP_CHECK_LIMITS = windows('2/2m');
const MAX_ATTEMPTS = 3;
/** Steps of the logical clock, window edges included (a send leaves a window exactly `windowMs` later). */
const STEPS = [500, 1_000, 30_000, 60_000, 61_000, 120_000, 180_000, 300_000, 600_000];

interface Send {
  readonly kind: SendKind;
  readonly subject: Subject;
  readonly ip: string | undefined;
  readonly sendId: string;
  readonly hash: string;
  readonly reserved: boolean;
  released: boolean;
}

interface Model {
  readonly sends: Send[];
  counter: number;
}

interface Real {
  readonly stores: ReadonlyArray<{ readonly name: string; readonly store: VerificationStore }>;
  readonly clock: { now: number };
  /** [from, to) runs of the audit trail written by concurrent decisions on several phones, in no set order on Cluster. */
  readonly unordered: Array<[number, number]>;
}

const subjectOf = (phone: number, channel: ChannelName): Subject => ({ phone: PHONES[phone] as string, channel });
const contextOf = (subject: Subject, ip: string | undefined): AuditContext => ({ ...subject, ip });
const limitsOf = (subject: Subject, ip: string | undefined): SendLimits => ({
  channel: CHANNELS[subject.channel as ChannelName].windows,
  phone: PHONE_LIMITS,
  ip: ip === undefined ? undefined : { address: ip, windows: IP_LIMITS },
  global: GLOBAL_LIMITS,
});
const planOf = (send: Send): SendPlan =>
  send.kind === 'notice'
    ? planNotice({
        subject: send.subject,
        context: contextOf(send.subject, send.ip),
        sendId: send.sendId,
        limits: { notice: NOTICE_LIMITS, ip: limitsOf(send.subject, send.ip).ip, global: GLOBAL_LIMITS },
      })
    : planSend({
    subject: send.subject,
    context: contextOf(send.subject, send.ip),
    sendId: send.sendId,
    codeHash: send.hash,
    codeTtlMs: CHANNELS[send.subject.channel as ChannelName].ttlMs,
    maxAttempts: MAX_ATTEMPTS,
    limits: limitsOf(send.subject, send.ip),
  });

/** Runs `act` on every store in turn and asserts they all answer like the first (the memory store), and audit alike. */
async function onEveryStore<T>(
  real: Real,
  what: string,
  act: (store: VerificationStore) => Promise<T>,
  /**
   * Events of concurrent decisions: on Cluster they run on several nodes, and their events are appended
   * after each script, so they may interleave (one Redis and memory keep the order asked, and are
   * compared in order).
   */
  unorderedEvents = false,
): Promise<T> {
  const answers: T[] = [];
  const before = unorderedEvents ? (await auditFields(real.stores[0]?.store as VerificationStore)).length : 0;
  for (const { store } of real.stores) answers.push(await act(store));
  const [first, ...others] = answers;
  others.forEach((answer, i) => expect(answer, `${what}: ${real.stores[i + 1]?.name} vs memory`).toEqual(first));
  const trails = await Promise.all(real.stores.map(({ store }) => auditFields(store)));
  if (unorderedEvents) real.unordered.push([before, trails[0]?.length ?? before]);
  // One Redis keeps the order asked (one call per turn, in order); only Cluster is compared as sets.
  const [reference, ...rest] = trails as [Array<Record<string, string>>, ...Array<Array<Record<string, string>>>];
  rest.forEach((trail, i) => {
    const name = real.stores[i + 1]?.name;
    const [mine, theirs] = name === 'cluster' ? [inSetOrder(real, trail), inSetOrder(real, reference)] : [trail, reference];
    expect(mine, `audit after ${what}: ${name} vs memory`).toEqual(theirs);
  });
  return first as T;
}

/** The trail with each run of events of concurrent decisions (Real.unordered) sorted, so only their set is compared (Cluster). */
function inSetOrder(real: Real, trail: Array<Record<string, string>>): Array<Record<string, string>> {
  const sorted = [...trail];
  const key = (event: Record<string, string>) => JSON.stringify(Object.entries(event).sort());
  for (const [from, to] of real.unordered) {
    sorted.splice(from, to - from, ...sorted.slice(from, to).sort((a, b) => key(a).localeCompare(key(b))));
  }
  return sorted;
}

async function auditFields(store: VerificationStore): Promise<Array<Record<string, string>>> {
  const fields: Array<Record<string, string>> = [];
  for await (const entry of store.audit.scan({})) fields.push({ ...entry.fields });
  return fields;
}

class Reserve implements fc.AsyncCommand<Model, Real> {
  private sent: string | undefined;
  constructor(
    readonly phone: number,
    readonly channel: ChannelName,
    readonly ip: number,
    readonly kind: SendKind = 'code',
  ) {}
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    model.counter += 1;
    const subject = subjectOf(this.phone, this.channel);
    const ip = IPS[this.ip];
    const sendId = `send-${model.counter}`;
    const hash = `H${model.counter}`;
    this.sent = sendId;
    const send: Send = { kind: this.kind, subject, ip, sendId, hash, reserved: false, released: false };
    const result = await onEveryStore(real, this.toString(), (store) => store.reserveSend(planOf(send)));
    model.sends.push({ ...send, reserved: result.ok });
  }
  toString = () => `reserve ${this.kind}(${PHONES[this.phone]}, ${this.channel}, ip ${IPS[this.ip] ?? 'none'})${this.sent ? ` = ${this.sent}` : ''}`;
}

/**
 * Ends a reserved send that is still in flight: `commit` (the provider accepted the SMS; a send already
 * committed may be committed again: a retry), `unconfirmed` (committed as an unknown outcome, then its
 * full limits read as the answer does) or `release` (it did not go out).
 */
class Finish implements fc.AsyncCommand<Model, Real> {
  /** The send picked in the last run, for the printed sequence. */
  private picked: string | undefined;
  constructor(
    readonly how: 'commit' | 'unconfirmed' | 'release',
    readonly pick: number,
  ) {}
  check = (model: Readonly<Model>) => model.sends.some((s) => s.reserved && !s.released);
  async run(model: Model, real: Real): Promise<void> {
    const candidates = model.sends.filter((s) => s.reserved && !s.released);
    const send = candidates[this.pick % candidates.length] as Send;
    this.picked = send.sendId;
    if (this.how === 'commit') {
      await onEveryStore(real, this.toString(), (store) => store.commitSend(planOf(send), { provider: 'model' }));
      return;
    }
    if (this.how === 'unconfirmed') {
      await onEveryStore(real, this.toString(), async (store) => [
        await store.commitSend(planOf(send), { provider: 'model', reason: 'Timeout' }, 'unconfirmed'),
        await store.peekSend(planOf(send)),
      ]);
      return;
    }
    send.released = true;
    await onEveryStore(real, this.toString(), (store) =>
      store.releaseSend(planOf(send), { reason: 'isp.SYSTEM_ERROR', provider: 'model' }),
    );
  }
  toString = () => `${this.how}(${this.picked ?? `#${this.pick}`})`;
}

/**
 * Several in-flight sends committed at once (the same one may come twice: a retry), as the commits of
 * one event-loop turn under load: one Redis call carries them all (CommitSends), and it must decide
 * exactly as the commits one after the other, in the order they were asked.
 */
class CommitTogether implements fc.AsyncCommand<Model, Real> {
  private picked: string[] = [];
  constructor(readonly picks: readonly number[]) {}
  check = (model: Readonly<Model>) => model.sends.some((s) => s.reserved && !s.released);
  async run(model: Model, real: Real): Promise<void> {
    const candidates = model.sends.filter((s) => s.reserved && !s.released);
    const sends = this.picks.map((pick) => candidates[pick % candidates.length] as Send);
    this.picked = sends.map((send) => send.sendId);
    await onEveryStore(real, this.toString(), (store) =>
      Promise.all(sends.map((send, i) => store.commitSend(planOf(send), { provider: 'model', n: i }, i % 2 ? 'unconfirmed' : 'sent'))),
      true,
    );
  }
  toString = () => `commitTogether(${this.picked.length > 0 ? this.picked.join(', ') : this.picks.map((p) => `#${p}`).join(', ')})`;
}

/** The reserve's answer was lost before it ran (a timeout): the service releases a send that never was. */
class ReleaseUnreserved implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly phone: number,
    readonly channel: ChannelName,
    readonly ip: number,
  ) {}
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    model.counter += 1;
    const send: Send = {
      kind: 'code',
      subject: subjectOf(this.phone, this.channel),
      ip: IPS[this.ip],
      sendId: `send-${model.counter}`,
      hash: 'never',
      reserved: false,
      released: true,
    };
    await onEveryStore(real, this.toString(), (store) => store.releaseSend(planOf(send), { reason: 'store_unavailable' }));
  }
  toString = () => `releaseUnreserved(${PHONES[this.phone]}, ${this.channel}, ip ${IPS[this.ip] ?? 'none'})`;
}

/**
 * A check from client `ip` (IP_CHECK_LIMITS) with the code of one of the subject's sends (`pick`), or a
 * wrong one; `byId`: by that send's verification id instead of the current code; `key`: with one of
 * two idempotency keys.
 */
class Check implements fc.AsyncCommand<Model, Real> {
  constructor(
    readonly phone: number,
    readonly channel: ChannelName,
    readonly pick: number | 'wrong',
    readonly ip = 0,
    readonly byId = false,
    readonly key: string | undefined = undefined,
  ) {}
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    model.counter += 1;
    const subject = subjectOf(this.phone, this.channel);
    const own = model.sends.filter((s) => s.kind === 'code' && s.subject.phone === subject.phone && s.subject.channel === subject.channel);
    const picked = this.pick === 'wrong' || own.length === 0 ? undefined : (own[own.length - 1 - (this.pick % own.length)] as Send);
    const hash = picked?.hash ?? 'WRONG';
    const checkId = `check-${model.counter}`;
    const ip = IPS[this.ip];
    await onEveryStore(real, this.toString(), (store) =>
      store.checkCode({
        subject,
        context: contextOf(subject, ip ?? '10.0.0.9'),
        codeHash: hash,
        maxAttempts: MAX_ATTEMPTS,
        checkId,
        failureLimits: FAILURE_LIMITS,
        ipChecks: ip === undefined ? undefined : { address: ip, windows: IP_CHECK_LIMITS },
        verificationId: this.byId ? (picked?.sendId ?? own.at(-1)?.sendId ?? 'none') : undefined,
        idempotencyKey: this.key,
      }),
    );
  }
  toString = () =>
    `check(${PHONES[this.phone]}, ${this.channel}, ${this.pick === 'wrong' ? 'wrong code' : `code of the ${this.pick}-th latest send`}, ip ${IPS[this.ip] ?? 'none'}` +
    `${this.byId ? ', by id' : ''}${this.key ? `, key ${this.key}` : ''})`;
}

/** Reads (`get`) or cancels one of the sends, reserved or not (a refused one has no verification). */
class OnVerification implements fc.AsyncCommand<Model, Real> {
  private picked: string | undefined;
  constructor(
    readonly how: 'get' | 'cancel',
    readonly pick: number,
  ) {}
  check = (model: Readonly<Model>) => model.sends.length > 0;
  async run(model: Model, real: Real): Promise<void> {
    const send = model.sends[model.sends.length - 1 - (this.pick % model.sends.length)] as Send;
    this.picked = send.sendId;
    await onEveryStore<unknown>(real, this.toString(), (store) =>
      this.how === 'get' ? store.getVerification(send.sendId) : store.cancelVerification(send.sendId, { ip: '10.0.0.7' }),
    );
    await onEveryStore(real, `findOutId after ${this.toString()}`, (store) => store.findOutId(send.sendId));
  }
  toString = () => `${this.how}(${this.picked ?? `#${this.pick}`})`;
}

/** A delivery report for one of the sends (or an unknown OutId), delivered or not, possibly a repeat. */
class Receipt implements fc.AsyncCommand<Model, Real> {
  private picked: string | undefined;
  constructor(
    readonly pick: number | 'unknown',
    readonly delivered: boolean,
  ) {}
  check = () => true;
  async run(model: Model, real: Real): Promise<void> {
    const send = this.pick === 'unknown' || model.sends.length === 0 ? undefined : model.sends[model.sends.length - 1 - (this.pick % model.sends.length)];
    this.picked = send?.sendId ?? 'unknown-out-id';
    const receipt = { outId: this.picked, delivered: this.delivered, errorCode: this.delivered ? 'DELIVERED' : 'MK:0001', reportedAt: 1_000 };
    await onEveryStore(real, this.toString(), (store) => store.recordReceipt(receipt));
  }
  toString = () => `receipt(${this.picked ?? `#${this.pick}`}, ${this.delivered ? 'delivered' : 'undelivered'})`;
}

class Advance implements fc.AsyncCommand<Model, Real> {
  constructor(readonly ms: number) {}
  check = () => true;
  async run(_model: Model, real: Real): Promise<void> {
    real.clock.now += this.ms;
  }
  toString = () => `advance(${this.ms} ms)`;
}

const phone = fc.nat(PHONES.length - 1);
const channel = fc.constantFrom<ChannelName>('login', 'pay');
const ip = fc.nat(IPS.length - 1);
const COMMANDS = [
  fc.tuple(phone, channel, ip).map(([p, c, i]) => new Reserve(p, c, i)),
  fc.tuple(phone, channel, ip).map(([p, c, i]) => new Reserve(p, c, i)),
  fc.tuple(phone, channel, ip).map(([p, c, i]) => new Reserve(p, c, i, 'notice')),
  fc.nat(5).map((pick) => new Finish('commit', pick)),
  fc.nat(5).map((pick) => new Finish('commit', pick)),
  fc.nat(5).map((pick) => new Finish('unconfirmed', pick)),
  fc.nat(5).map((pick) => new Finish('release', pick)),
  fc.array(fc.nat(5), { minLength: 2, maxLength: 4 }).map((picks) => new CommitTogether(picks)),
  fc.tuple(phone, channel, ip).map(([p, c, i]) => new ReleaseUnreserved(p, c, i)),
  fc.tuple(phone, channel, fc.oneof(fc.nat(2), fc.constant('wrong' as const)), ip).map(([p, c, pick, i]) => new Check(p, c, pick, i)),
  fc.tuple(phone, channel, fc.constant('wrong' as const), ip).map(([p, c, pick, i]) => new Check(p, c, pick, i)),
  fc.tuple(phone, channel, fc.oneof(fc.nat(2), fc.constant('wrong' as const)), ip).map(([p, c, pick, i]) => new Check(p, c, pick, i, true)),
  fc
    .tuple(phone, channel, fc.oneof(fc.nat(2), fc.constant('wrong' as const)), fc.constantFrom('k1', 'k2'))
    .map(([p, c, pick, key]) => new Check(p, c, pick, 2, false, key)),
  fc.tuple(fc.constantFrom<'get' | 'cancel'>('get', 'cancel'), fc.nat(5)).map(([how, pick]) => new OnVerification(how, pick)),
  fc.tuple(fc.constantFrom<'get' | 'cancel'>('get', 'cancel'), fc.nat(5)).map(([how, pick]) => new OnVerification(how, pick)),
  fc.tuple(fc.oneof(fc.nat(5), fc.constant('unknown' as const)), fc.boolean()).map(([pick, delivered]) => new Receipt(pick, delivered)),
  fc.tuple(fc.nat(5), fc.boolean()).map(([pick, delivered]) => new Receipt(pick, delivered)),
  fc.constantFrom(...STEPS).map((ms) => new Advance(ms)),
];

async function openStores(clock: { now: number }): Promise<Real & { close(): Promise<void> }> {
  const memory = new MemoryStore({ now: () => clock.now, audit: TEST_AUDIT });
  const options = () => {
    const prefix = uniquePrefix();
    return { prefix, commandTimeoutMs: 5_000, auditKey: `${prefix}audit`, audit: TEST_AUDIT, clock: () => clock.now };
  };
  const redis = await connectRedisStore(requireRedisUrl(), options());
  const nodes = parseHostPorts('REDIS_CLUSTER_NODES', requireClusterNodes());
  const cluster = await connectRedisStore({ kind: 'cluster', nodes, tls: false }, options());
  return {
    clock,
    unordered: [],
    stores: [
      { name: 'memory', store: memory },
      { name: 'redis', store: redis },
      { name: 'cluster', store: cluster },
    ],
    close: async () => {
      await Promise.all([memory.close(), redis.close(), cluster.close()]);
    },
  };
}

describe('store model: memory, Redis and Cluster answer and audit alike', () => {
  it('on random sequences of sends and notices, commits (sent or unconfirmed), releases, checks and clock steps, every limit family on', async () => {
    await fc.assert(
      fc.asyncProperty(fc.commands(COMMANDS, { maxCommands: 60, size: 'large' }), async (commands) => {
        // Real time, so the audit streams' retention trimming (by the logical clock) keeps every event.
        const clock = { now: Date.now() };
        const real = await openStores(clock);
        try {
          await fc.asyncModelRun(() => ({ model: { sends: [], counter: 0 }, real }), commands);
        } finally {
          await real.close();
        }
      }),
      { numRuns: 60, verbose: true },
    );
  }, 120_000);
});
