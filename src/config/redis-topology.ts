import type { HostPort } from '../stores/redis/topology.js';
import { commaList } from './comma-list.js';
import { ConfigError } from './config-error.js';

/** `host:port,host:port` (IPv6 as `[::1]:7000`). */
export function parseHostPorts(variable: string, text: string): HostPort[] {
  const parts = commaList(text);
  const parsed = parts.map((part) => {
    const match = /^(?:\[([^\]]+)\]|([^:[\]\s]+)):(\d{1,5})$/.exec(part);
    const port = match ? Number(match[3]) : NaN;
    if (!match || port < 1 || port > 65535) return undefined;
    return { host: (match[1] ?? match[2]) as string, port };
  });
  if (parsed.length === 0 || parsed.some((p) => p === undefined)) {
    throw new ConfigError(variable, 'is invalid: expected host:port[,host:port…]');
  }
  return parsed as HostPort[];
}
