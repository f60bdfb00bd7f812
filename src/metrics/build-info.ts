import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What `sms_verify_build_info` reports: the service version and the Node.js version running it. */
export interface BuildInfo {
  readonly version: string;
  readonly nodeVersion: string;
}

export const buildInfo: BuildInfo = { version: packageVersion(), nodeVersion: process.version };

/**
 * The version in the service's package.json: the first one found going up from this file, which
 * is the repo root both from the sources (tsx) and from the compiled `dist/` (the image copies
 * package.json next to `dist/`). `unknown` if there is none.
 */
function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      try {
        const version: unknown = (JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown }).version;
        return typeof version === 'string' ? version : 'unknown';
      } catch {
        return 'unknown';
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return 'unknown';
    dir = parent;
  }
}
