import { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { slowRequest } from './support/hostile.js';
import { startServer, type ServerProcess } from './support/node-process.js';

const TIMEOUT_MS = 1000;
/** Generous: Node looks for late requests every quarter of the timeout, and the machine is shared. */
const LATEST_MS = TIMEOUT_MS + 3000;

const BODY = JSON.stringify({ phone: '13800000000', channel: 'login' });
const HEAD = `POST /v1/verifications HTTP/1.1\r\nHost: sms\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(BODY)}\r\n\r\n`;
const bytes = (text: string): Buffer[] => [...Buffer.from(text)].map((byte) => Buffer.from([byte]));

/** Writes `requests` on one connection, pausing `pauseMs` between them; resolves with the status lines it got back. */
function onOneConnection(port: number, requests: string[], pauseMs: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let received = '';
    socket.on('data', (data: Buffer) => (received += data.toString('latin1')));
    socket.on('error', reject);
    socket.on('close', () => resolve(received.match(/HTTP\/1\.1 \d{3}/g) ?? []));
    socket.connect(port, '127.0.0.1', async () => {
      for (const [i, request] of requests.entries()) {
        if (i > 0) await new Promise((r) => setTimeout(r, pauseMs));
        socket.write(request);
      }
    });
  });
}

describe(`slow clients, against the service as users start it (REQUEST_TIMEOUT_MS=${TIMEOUT_MS})`, () => {
  let server: ServerProcess;
  let port: number;

  beforeAll(async () => {
    server = startServer({ REQUEST_TIMEOUT_MS: String(TIMEOUT_MS) });
    port = Number(new URL(await server.listening).port);
  }, 30_000);

  afterAll(async () => {
    server?.child.kill('SIGTERM');
    await server?.exited;
  });

  it('answers 408 and closes a connection whose headers trickle in slower than the timeout', async () => {
    // One byte every 300 ms: the headers alone would take 30 s.
    const answer = await slowRequest(port, '', bytes(HEAD), 300);
    expect(answer.status).toBe(408);
    expect(answer.totalMs).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    expect(answer.totalMs).toBeLessThan(LATEST_MS);
  });

  it('answers 408 and closes a connection whose body trickles in slower than the timeout', async () => {
    const answer = await slowRequest(port, HEAD, bytes(BODY), 300);
    expect(answer.status).toBe(408);
    expect(answer.totalMs).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    expect(answer.totalMs).toBeLessThan(LATEST_MS);
  });

  it('closes a connection that sends nothing at all', async () => {
    const answer = await slowRequest(port, '', [], 0);
    expect(answer.status).toBe(408);
    expect(answer.totalMs).toBeLessThan(LATEST_MS);
  });

  it('serves a prompt request, and the next one on a keep-alive connection left idle longer than the timeout', async () => {
    const request = (close: boolean) => `GET /healthz HTTP/1.1\r\nHost: sms\r\n${close ? 'Connection: close\r\n' : ''}\r\n`;
    expect(await onOneConnection(port, [request(false), request(true)], TIMEOUT_MS * 2.5)).toEqual(['HTTP/1.1 200', 'HTTP/1.1 200']);
  });

  it('refuses a REQUEST_TIMEOUT_MS out of range, naming it', () => {
    expect(() => loadConfig({ REQUEST_TIMEOUT_MS: '50' })).toThrowError(/REQUEST_TIMEOUT_MS/);
    expect(loadConfig({}).requestTimeoutMs).toBe(10_000);
  });
});
