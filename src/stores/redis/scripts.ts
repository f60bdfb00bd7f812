import { readFileSync } from 'node:fs';

/** The Lua scripts, read once at start-up from the `.lua` files beside this module. */
function read(name: string): string {
  return readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');
}

const PRELUDE = read('prelude');

/** Each script is the shared prelude (server time, audit append) followed by its own body. */
function load(name: string): string {
  return `${PRELUDE}\n${read(name)}`;
}

export const LUA = {
  reserveSend: load('reserve-send'),
  reserveLimit: load('reserve-limit'),
  commitSend: load('commit-send'),
  releaseSend: load('release-send'),
  checkCode: load('check-code'),
  appendAudit: load('append-audit'),
} as const;
