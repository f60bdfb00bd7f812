/**
 * A typed client for the service: `schema.d.ts` is generated from the repo's `openapi.json` by
 * openapi-typescript (`npm run openapi`), and openapi-fetch turns it into calls whose paths, bodies,
 * answers and error bodies are all typed (an error's `code` is the union its status can carry).
 *
 *   const sms = createSmsVerifyClient({ baseUrl: 'http://sms-verify:3000', token: process.env.SMS_TOKEN });
 *   const { data, error, response } = await sms.POST('/v1/verifications', { body: { phone, channel: 'login' } });
 *   if (error?.statusCode === 429) retryIn(error.retryAfter);
 *
 * Runtime dependency: openapi-fetch (and nothing else; it uses the platform's `fetch`).
 */
import createClient, { type Client, type ClientOptions } from 'openapi-fetch';
import type { paths } from './schema.js';

export type { components, operations, paths } from './schema.js';

export interface SmsVerifyClientOptions extends Omit<ClientOptions, 'headers'> {
  /** The service's base URL, e.g. `http://localhost:3000`. */
  readonly baseUrl: string;
  /** An API key token (`API_KEYS`), sent as `Authorization: Bearer <token>`. */
  readonly token?: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export type SmsVerifyClient = Client<paths>;

export function createSmsVerifyClient({ token, headers, ...options }: SmsVerifyClientOptions): SmsVerifyClient {
  return createClient<paths>({
    ...options,
    headers: { ...headers, ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
  });
}
