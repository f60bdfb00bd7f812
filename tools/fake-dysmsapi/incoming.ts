/** Dysmsapi double: reading and parsing incoming requests. */
import type { IncomingMessage } from 'node:http';
import type { IncomingParts } from './authenticate.js';

export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export function searchParamsToRecord(params: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of params) out[key] = value;
  return out;
}

export function isForm(headers: IncomingMessage['headers']): boolean {
  return (headers['content-type'] ?? '').toLowerCase().startsWith('application/x-www-form-urlencoded');
}

export function flattenHeaders(headers: IncomingMessage['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

export function parseIncoming(req: IncomingMessage, body: Buffer): IncomingParts {
  const url = new URL(req.url ?? '/', 'http://fake-dysmsapi.invalid');
  return {
    method: req.method ?? 'GET',
    path: url.pathname,
    query: searchParamsToRecord(url.searchParams),
    headers: req.headersDistinct,
    body,
  };
}

/** V2 signs query + form fields together, V3 signs only the query (the form body is covered by its hash). */
export function rpcParams(req: IncomingMessage, parts: IncomingParts): Record<string, string> {
  if (!isForm(req.headers)) return parts.query;
  return { ...parts.query, ...searchParamsToRecord(new URLSearchParams(parts.body.toString('utf8'))) };
}
