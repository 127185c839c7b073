// A minimal WebSocket client for tests (Node 20 has no global WebSocket, uWS cannot be a client):
// node:http upgrade, masked text frames out, unmasked frames in (text, ping, close).
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { Socket } from 'node:net';

export type WsMessage = Record<string, unknown>;

export interface TestSocket {
  /** Every text message received so far, parsed as JSON when possible. */
  readonly messages: unknown[];
  /** Close code and reason once the server closed the socket. */
  readonly closed: { code: number; reason: string } | null;
  send(text: string): void;
  /** Resolves with the first message (already received or future) matching `pred`. */
  waitFor(pred: (m: WsMessage) => boolean, timeoutMs?: number): Promise<WsMessage>;
  waitClosed(timeoutMs?: number): Promise<{ code: number; reason: string }>;
  /** Stop reading from the socket (a slow client); resume() reads again. */
  pause(): void;
  resume(): void;
  close(): void;
}

export class UpgradeRefused extends Error {
  constructor(readonly status: number) {
    super(`upgrade refused with ${status}`);
  }
}

function frame(opcode: number, payload: Buffer): Buffer {
  const mask = randomBytes(4);
  const len = payload.length;
  const head = len < 126 ? Buffer.alloc(2) : len < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  head[0] = 0x80 | opcode;
  if (len < 126) head[1] = 0x80 | len;
  else if (len < 65536) {
    head[1] = 0x80 | 126;
    head.writeUInt16BE(len, 2);
  } else {
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  const body = Buffer.alloc(len);
  for (let i = 0; i < len; i++) body[i] = payload[i]! ^ mask[i % 4]!;
  return Buffer.concat([head, mask, body]);
}

export function connectWs(url: string): Promise<TestSocket> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: u.hostname,
      port: u.port,
      path: u.pathname + u.search,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
      },
    });
    req.on('response', (res) => {
      res.resume();
      reject(new UpgradeRefused(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.on('upgrade', (_res, socket: Socket, head: Buffer) => resolve(wrap(socket, head)));
    req.end();
  });
}

function wrap(socket: Socket, head: Buffer): TestSocket {
  const messages: unknown[] = [];
  let closed: { code: number; reason: string } | null = null;
  const listeners = new Set<() => void>();
  let buf = head;
  const notify = () => {
    for (const l of [...listeners]) l();
  };

  const parse = () => {
    for (;;) {
      if (buf.length < 2) return;
      const opcode = buf[0]! & 0x0f;
      let len = buf[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (buf.length < 4) return;
        len = buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (buf.length < 10) return;
        len = Number(buf.readBigUInt64BE(2));
        off = 10;
      }
      if (buf.length < off + len) return;
      const payload = buf.subarray(off, off + len);
      buf = buf.subarray(off + len);
      if (opcode === 1) {
        const text = payload.toString('utf8');
        try {
          messages.push(JSON.parse(text));
        } catch {
          messages.push(text);
        }
      } else if (opcode === 9) {
        socket.write(frame(10, Buffer.from(payload)));
      } else if (opcode === 8) {
        closed = {
          code: payload.length >= 2 ? payload.readUInt16BE(0) : 1005,
          reason: payload.subarray(2).toString('utf8'),
        };
        socket.end();
      }
      notify();
    }
  };
  socket.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    parse();
  });
  socket.on('close', () => {
    closed ??= { code: 1006, reason: 'connection lost' };
    notify();
  });
  socket.on('error', () => undefined);
  parse();

  const waitUntil = <T>(get: () => T | undefined, timeoutMs: number, what: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const v = get();
        if (v !== undefined) {
          clearTimeout(timer);
          listeners.delete(check);
          resolve(v);
        }
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(messages)}`));
      }, timeoutMs);
      listeners.add(check);
      check();
    });

  return {
    messages,
    get closed() {
      return closed;
    },
    send(text) {
      socket.write(frame(1, Buffer.from(text, 'utf8')));
    },
    waitFor(pred, timeoutMs = 5000) {
      return waitUntil(
        () =>
          messages.find((m): m is WsMessage => typeof m === 'object' && m !== null && pred(m as WsMessage)),
        timeoutMs,
        'a matching message',
      );
    },
    waitClosed(timeoutMs = 5000) {
      return waitUntil(() => closed ?? undefined, timeoutMs, 'close');
    },
    pause() {
      socket.pause();
    },
    resume() {
      socket.resume();
    },
    close() {
      if (!socket.destroyed) {
        socket.write(frame(8, Buffer.from([0x03, 0xe8])));
        socket.end();
      }
    },
  };
}
