import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import { StoreUnavailableError } from '../../../src/domain/store-unavailable.js';
import { parseSmsReports } from '../../../src/providers/aliyun/sms-report.js';
import { loggableError, notFoundHandler } from '../../hooks/errors.js';

export interface ReceiptRoutesOptions {
  /** `ALIYUN_RECEIPT_TOKEN`: the secret last segment of the URL entered in the Aliyun console. */
  readonly token: string;
}

/** Aliyun reads `code` 0 as "received"; anything else makes it push the batch again (after 1, 5 and 10 minutes). */
const ACK = { code: 0, msg: '成功' } as const;

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/**
 * `POST /v1/receipts/aliyun/{token}`: Aliyun's SmsReport push (HTTP batch push). Aliyun sends no API
 * key, so the route is open and the token in the path is the secret; a wrong token answers the same
 * 404 as a path that does not exist. Registered only when `ALIYUN_RECEIPT_TOKEN` is set.
 */
const receiptRoutes: FastifyPluginAsync<ReceiptRoutesOptions> = async (fastify, { token }) => {
  const expected = digest(token);
  // The body is read as text whatever its declared type (Aliyun: application/json;charset=utf-8) and
  // parsed here, so that a malformed one answers in Aliyun's shape.
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', { parseAs: 'string' }, (_request, body, done) => done(null, body));
  fastify.setErrorHandler((error, request, reply) => {
    if (error instanceof StoreUnavailableError) {
      request.log.error({ error: loggableError(error) }, 'delivery receipts not recorded: store unavailable (Aliyun will push them again)');
      return reply.code(503).send({ code: 1, msg: 'store unavailable, retry later' });
    }
    const status = (error as { statusCode?: number }).statusCode;
    if (status !== undefined && status >= 400 && status < 500) return reply.code(status).send({ code: 1, msg: 'malformed request' });
    request.log.error({ error: loggableError(error) }, 'delivery receipts not recorded');
    return reply.code(500).send({ code: 1, msg: 'internal error' });
  });

  fastify.post<{ Params: { token: string } }>(
    '/v1/receipts/aliyun/:token',
    {
      // Aliyun pushes batches of up to hundreds of reports, more than BODY_LIMIT_BYTES allows an API request.
      bodyLimit: 1_048_576,
      config: {
        auth: 'open',
        openapi: {
          body: { type: 'array', items: { type: 'object' }, description: 'Aliyun SmsReport: an array of delivery reports' },
          response: {
            200: { description: 'Every report was recorded: `{"code":0,"msg":"成功"}`' },
            400: { description: 'Malformed body: `{"code":1,"msg":"…"}`' },
            404: { description: 'Wrong token' },
            503: { description: 'The store is unavailable: Aliyun pushes the batch again later' },
          },
        },
      },
      schema: {
        summary: 'Delivery receipts from Aliyun (SmsReport HTTP batch push)',
        operationId: 'aliyunReceipts',
        description:
          'Enter `https://<your host>/v1/receipts/aliyun/<ALIYUN_RECEIPT_TOKEN>` as the SmsReport receiving URL in the Aliyun SMS ' +
          'console. Each report is matched by `out_id` to its verification or notice, recorded once however often it is pushed, and ' +
          'audited as `code.delivered` / `code.undelivered` (or `notice.*`). Unknown `out_id`s are acknowledged.',
        tags: ['v1'],
      },
    },
    async (request, reply) => {
      if (!timingSafeEqual(digest(request.params.token), expected)) {
        notFoundHandler(request, reply);
        return reply;
      }
      const parsed = parseSmsReports(typeof request.body === 'string' ? request.body : '');
      if (!parsed.ok) return reply.code(400).send({ code: 1, msg: parsed.problem });
      await fastify.verification.recordReceipts(parsed.reports);
      return reply.code(200).send(ACK);
    },
  );
};

export default receiptRoutes;
