import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { VerificationView } from '../../../src/domain/verification/verification-service.js';
import { Errors, withExtra } from '../../hooks/errors.js';
import { requestContext } from '../request-context.js';
import { CancelVerificationResponses, GetVerificationResponses, VerificationParams } from './schemas.js';

/**
 * Verifications as resources: `GET /v1/verifications/{id}` and `POST /v1/verifications/{id}/cancel`.
 * A key limited to some channels sees only their verifications: another channel's id answers
 * `404 VERIFICATION_NOT_FOUND`, exactly as an id that never existed.
 */
const verificationResources: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get(
    '/v1/verifications/:id',
    {
      config: { auth: { scope: 'verify' }, channelsByResource: true },
      schema: {
        summary: 'Fetch a verification: its status and delivery',
        operationId: 'getVerification',
        description: 'Kept for `VERIFICATION_RETENTION` (default 24h) after it was created, then `404 VERIFICATION_NOT_FOUND`.',
        params: VerificationParams,
        response: GetVerificationResponses,
      },
    },
    async (request) => {
      const view = await fastify.verification.getVerification({ id: request.params.id, context: requestContext(request) });
      if (!view) throw new Errors.VERIFICATION_NOT_FOUND();
      return toJson(view);
    },
  );

  fastify.post(
    '/v1/verifications/:id/cancel',
    {
      config: { auth: { scope: 'verify' }, channelsByResource: true },
      schema: {
        summary: 'Cancel a pending verification: its code never verifies again',
        operationId: 'cancelVerification',
        description:
          'A pending verification becomes `canceled` (a later check of its code answers `404 OTP_NOT_FOUND`); any other status ' +
          'answers `409 VERIFICATION_NOT_PENDING` with the current `status` in the body. Audited as `code.canceled`.',
        params: VerificationParams,
        response: CancelVerificationResponses,
      },
    },
    async (request) => {
      const lookup = { id: request.params.id, context: requestContext(request) };
      const result = await fastify.verification.cancelVerification(lookup);
      if (result.kind === 'unknown_verification') throw new Errors.VERIFICATION_NOT_FOUND();
      if (result.kind === 'not_pending') throw withExtra(new Errors.VERIFICATION_NOT_PENDING(), { status: result.status });
      const view = await fastify.verification.getVerification(lookup);
      if (!view) throw new Errors.VERIFICATION_NOT_FOUND();
      return toJson(view);
    },
  );
};

export default verificationResources;

function toJson(view: VerificationView) {
  const { delivery } = view;
  return {
    id: view.id,
    phone: view.phone,
    channel: view.channel,
    status: view.status,
    createdAt: new Date(view.createdAt).toISOString(),
    expiresAt: new Date(view.expiresAt).toISOString(),
    attempts: view.attempts,
    delivery: {
      status: delivery.status,
      ...(delivery.errorCode === undefined ? {} : { errorCode: delivery.errorCode }),
      ...(delivery.reportedAt === undefined ? {} : { reportedAt: new Date(delivery.reportedAt).toISOString() }),
    },
  };
}
