/** `139` + 8 digits: a valid mainland mobile number for every n in 0 … 99,999,999. */
export function phoneOf(n: number): string {
  return `139${String(n % 100_000_000).padStart(8, '0')}`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
