/**
 * A WebSocket client that writes whatever bytes it is told, for the tests
 * that act as a hostile client: frames a real client library would never
 * send (invalid UTF-8 in a text frame, reserved opcodes and bits, unmasked
 * frames, lengths far beyond the limit), and a client that never reads what
 * the server sends.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

export interface RawFrameOptions {
  fin?: boolean;
  /** RSV1–3 bits, 0–7. */
  rsv?: number;
  mask?: boolean;
  /** The length the header claims, when it should differ from the payload's. */
  claimedLength?: number;
}

export function rawFrame(opcode: number, payload: Uint8Array, options: RawFrameOptions = {}): Buffer {
  const { fin = true, rsv = 0, mask = true } = options;
  const length = options.claimedLength ?? payload.length;
  const head: number[] = [(fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f)];
  const maskBit = mask ? 0x80 : 0;
  let extended = Buffer.alloc(0);
  if (length < 126) head.push(maskBit | length);
  else if (length < 65536) {
    head.push(maskBit | 126);
    extended = Buffer.alloc(2);
    extended.writeUInt16BE(length);
  } else {
    head.push(maskBit | 127);
    extended = Buffer.alloc(8);
    extended.writeBigUInt64BE(BigInt(length));
  }
  if (!mask) return Buffer.concat([Buffer.from(head), extended, payload]);
  const key = randomBytes(4);
  const masked = Buffer.from(payload);
  for (let i = 0; i < masked.length; i += 1) masked[i] = (masked[i] as number) ^ (key[i % 4] as number);
  return Buffer.concat([Buffer.from(head), extended, key, masked]);
}

/** Completes a WebSocket upgrade on a plain TCP socket; resolves once the 101 has been read. */
export function rawUpgrade(port: number, path: string, headers: Record<string, string>): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    const onData = (chunk: Buffer) => {
      answer += chunk.toString('latin1');
      const end = answer.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      if (!answer.startsWith('HTTP/1.1 101')) {
        socket.destroy();
        reject(new Error(`upgrade refused: ${answer.split('\r\n')[0]}`));
        return;
      }
      // Whatever came after the headers is not read further: this client does not read.
      socket.pause();
      resolve(socket);
    };
    socket.on('data', onData);
    socket.on('error', reject);
    socket.once('connect', () => {
      const lines = [
        `GET ${path} HTTP/1.1`,
        `Host: 127.0.0.1:${port}`,
        'Upgrade: websocket',
        'Connection: Upgrade',
        `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
        'Sec-WebSocket-Version: 13',
        ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
      ];
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    });
  });
}

/** Resolves when the socket has been closed by the other end (or after `ms`, with false). */
export function closedWithin(socket: Socket, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (socket.destroyed || socket.readableEnded) return resolve(true);
    const timer = setTimeout(() => resolve(false), ms);
    const done = () => {
      clearTimeout(timer);
      resolve(true);
    };
    socket.once('close', done);
    socket.once('end', done);
    // A paused socket never sees its end: read (and drop) from here on.
    socket.on('data', () => undefined);
    socket.resume();
  });
}
