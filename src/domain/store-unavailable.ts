/** The store did not answer (Redis down, timed out, …): the request cannot be decided. */
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
  constructor(options?: { cause?: unknown }) {
    super('The code store is unavailable', options);
  }
}

export async function orUnavailable<T>(operation: Promise<T>): Promise<T> {
  try {
    return await operation;
  } catch (error) {
    throw new StoreUnavailableError({ cause: error });
  }
}
