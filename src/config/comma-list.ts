/** The entries of a comma list (`a, b,,c` → `a`, `b`, `c`): trimmed, empty ones dropped. Every list variable is read through here. */
export function commaList(text: string): string[] {
  return text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0);
}
