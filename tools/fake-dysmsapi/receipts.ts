/**
 * Delivery receipts the way Aliyun's SmsReport "HTTP batch push" sends them: after each accepted
 * SendSms, a POST of a JSON array of reports to the receipt URL set in the console. A receiver
 * that does not acknowledge (a non-2xx status, a timeout, or a body whose `code` is not 0) gets the
 * same batch again later, a bounded number of times (Aliyun: after 1, 5 and 10 minutes, then never).
 */

/** One report, field for field as Aliyun pushes it (times in China Standard Time, `yyyy-MM-dd HH:mm:ss`). */
export interface SmsReport {
  phone_number: string;
  send_time: string;
  report_time: string;
  success: boolean;
  /** `DELIVERED` on success, the carrier's status code otherwise. */
  err_code: string;
  err_msg: string;
  sms_size: string;
  biz_id: string;
  out_id: string;
}

export interface ReceiptOptions {
  /** Where batches are POSTed. */
  url: string;
  /** From the accepted SendSms to the first push. Default 1000 ms. */
  delayMs?: number;
  /** Numbers whose reports say undelivered (any of +8613…, 8613…, 13… matches). */
  undelivered?: readonly string[];
  /** Waits before each repeat of an unacknowledged batch; its length bounds the repeats. Default Aliyun's 1, 5, 10 minutes as seconds. */
  retryDelaysMs?: readonly number[];
  /** How long one push may take before it counts as failed. Default 5000 ms. */
  timeoutMs?: number;
  /** Called after every push attempt (the CLI logs them). */
  onPush?: (push: ReceiptPush) => void;
}

/** One POST of a batch and what came of it. */
export interface ReceiptPush {
  reports: SmsReport[];
  /** 1 for the first push, 2 for the first repeat, … */
  attempt: number;
  /** The receiver's HTTP status; undefined when it could not be reached or timed out. */
  status?: number;
  acknowledged: boolean;
  /** Whether the batch will be pushed again. */
  willRetry: boolean;
}

/** The error the double reports for a number listed as undelivered: the carrier says the user does not exist. */
export const UNDELIVERED = { err_code: 'MK:0001', err_msg: '用户不存在' } as const;
export const DELIVERED = { err_code: 'DELIVERED', err_msg: '用户接收成功' } as const;

export const DEFAULT_RECEIPT_DELAY_MS = 1000;
export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [1000, 5000, 10_000];

/** `yyyy-MM-dd HH:mm:ss` in China Standard Time (UTC+8), as Aliyun writes report times. */
export function chinaTimestamp(epochMs: number): string {
  const iso = new Date(epochMs + 8 * 3600_000).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
}

/** A number as digits without `+`, `00` or China's `86` in front, so every spelling of one number compares equal. */
export function nationalDigits(phone: string): string {
  const digits = phone.trim().replace(/^\+|^00/, '').replace(/\D/g, '');
  return digits.length === 13 && digits.startsWith('86') ? digits.slice(2) : digits;
}

/** Accepted sends in, report batches out (each on its own timers). */
export class ReceiptPusher {
  /** Every push attempt, in order. */
  readonly pushes: ReceiptPush[] = [];
  private readonly undelivered: ReadonlySet<string>;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly inFlight = new Set<AbortController>();
  private idleWaiters: Array<() => void> = [];
  private closed = false;

  constructor(private readonly options: ReceiptOptions) {
    this.undelivered = new Set((options.undelivered ?? []).map(nationalDigits).filter(Boolean));
  }

  /** Schedules the batch for one accepted SendSms: one report per number in `PhoneNumbers`. */
  accepted(send: { phoneNumbers: string; bizId: string; outId: string | undefined; sentAt: number }): void {
    const phones = send.phoneNumbers.split(',').map((p) => p.trim()).filter(Boolean);
    this.later(this.options.delayMs ?? DEFAULT_RECEIPT_DELAY_MS, () => {
      const reportTime = chinaTimestamp(Date.now());
      const reports = phones.map((phone) => ({
        phone_number: phone,
        send_time: chinaTimestamp(send.sentAt),
        report_time: reportTime,
        success: !this.undelivered.has(nationalDigits(phone)),
        ...(this.undelivered.has(nationalDigits(phone)) ? UNDELIVERED : DELIVERED),
        sms_size: '1',
        biz_id: send.bizId,
        out_id: send.outId ?? '',
      }));
      return this.push(reports, 1);
    });
  }

  /** Resolves once no batch is waiting or being pushed. */
  idle(): Promise<void> {
    if (this.timers.size === 0 && this.inFlight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Drops every scheduled push and aborts the ones under way. */
  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const controller of this.inFlight) controller.abort();
    this.settle();
  }

  private async push(reports: SmsReport[], attempt: number): Promise<void> {
    const controller = new AbortController();
    this.inFlight.add(controller);
    const timeout = setTimeout(() => controller.abort(), this.options.timeoutMs ?? 5000);
    let status: number | undefined;
    let acknowledged = false;
    try {
      const response = await fetch(this.options.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json;charset=utf-8' },
        body: JSON.stringify(reports),
        signal: controller.signal,
      });
      status = response.status;
      const text = await response.text();
      acknowledged = response.ok && codeOf(text) === 0;
    } catch {
      // Unreachable, reset or timed out: not acknowledged.
    } finally {
      clearTimeout(timeout);
      this.inFlight.delete(controller);
    }
    const retryDelays = this.options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
    const willRetry = !acknowledged && !this.closed && attempt <= retryDelays.length;
    const push: ReceiptPush = { reports, attempt, ...(status === undefined ? {} : { status }), acknowledged, willRetry };
    this.pushes.push(push);
    this.options.onPush?.(push);
    if (willRetry) this.later(retryDelays[attempt - 1] as number, () => this.push(reports, attempt + 1));
    this.settle();
  }

  private later(ms: number, run: () => Promise<void>): void {
    if (this.closed) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void run();
    }, ms);
    this.timers.add(timer);
  }

  private settle(): void {
    if (this.timers.size > 0 || this.inFlight.size > 0) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}

/** The receiver's acknowledgement: `{"code": 0, …}`; anything else is not one. */
function codeOf(text: string): unknown {
  try {
    return (JSON.parse(text) as { code?: unknown }).code;
  } catch {
    return undefined;
  }
}
