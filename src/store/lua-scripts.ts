import { readFileSync } from 'node:fs';

/** The Lua scripts, read once at start-up from the `.lua` files beside this module. */
function load(name: string): string {
  return readFileSync(new URL(`./lua/${name}.lua`, import.meta.url), 'utf8');
}

export const LUA = {
  reserveSend: load('reserve-send'),
  releaseSend: load('release-send'),
  checkCode: load('check-code'),
} as const;
