import type { VerificationStore } from '../../src/domain/store.js';

/** A store whose every call fails as a dead Redis connection would, with internals in the message. */
export function brokenStore(): VerificationStore {
  const fail = async (): Promise<never> => {
    throw new Error('connect ECONNREFUSED 10.0.0.7:6379 password=hunter2');
  };
  return {
    kind: 'redis',
    audit: { page: fail, scan: () => ({ [Symbol.asyncIterator]: () => ({ next: fail }) }) },
    reserveSend: fail,
    appendAudit: fail,
    commitSend: fail,
    releaseSend: fail,
    peekSend: fail,
    checkCode: fail,
    findOutId: fail,
    getVerification: fail,
    cancelVerification: fail,
    recordReceipt: fail,
    sharedSecret: async (candidate) => candidate,
    ping: fail,
    onReconnect: () => {},
    close: async () => {},
  };
}
