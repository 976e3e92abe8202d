/**
 * The terminal's wire protocol: one WebSocket per terminal, binary frames,
 * the first byte naming the frame's type. Terminal bytes travel raw (no
 * base64, no JSON), so a UTF-8 character split across two frames is simply
 * joined by the receiver's streaming decoder (xterm.js on the page, a
 * StringDecoder-free pty write on the server). Control frames have fixed
 * layouts or small JSON bodies, and every frame from a browser is checked
 * here before anything acts on it.
 *
 * Browser → server:
 *   0x00 INPUT   keystrokes, raw bytes (≤ 16 KiB)
 *   0x01 RESIZE  u16 cols, u16 rows (big-endian; 2–500 cols, 1–200 rows)
 *   0x02 ACK     u32 bytes of output the page has processed since its last ACK
 * Server → browser:
 *   0x10 OUTPUT  raw bytes from the shell
 *   0x11 READY   JSON { resumed, replayedBytes, offset }: the shell is attached
 *   0x12 EXIT    JSON { code, signal? }: the shell ended
 *   0x13 ERROR   JSON { code, message }: a frame was refused; the shell lives on
 */
import { z } from 'zod';

export const FRAME = {
  input: 0x00,
  resize: 0x01,
  ack: 0x02,
  output: 0x10,
  ready: 0x11,
  exit: 0x12,
  error: 0x13,
} as const;

export const MAX_INPUT_BYTES = 16 * 1024;
/** The largest frame a browser may send; `ws` closes the socket (1009) above it. */
export const MAX_CLIENT_FRAME = MAX_INPUT_BYTES + 1;
export const SIZE_LIMITS = { cols: { min: 2, max: 500 }, rows: { min: 1, max: 200 } } as const;

export type ClientFrame =
  | { type: 'input'; data: Buffer }
  | { type: 'resize'; cols: number; rows: number }
  | { type: 'ack'; bytes: number }
  | { type: 'invalid'; reason: string };

export function decodeClientFrame(frame: Buffer): ClientFrame {
  if (frame.length === 0) return { type: 'invalid', reason: 'empty frame' };
  const body = frame.subarray(1);
  switch (frame[0]) {
    case FRAME.input:
      if (body.length === 0) return { type: 'invalid', reason: 'input frame with no bytes' };
      if (body.length > MAX_INPUT_BYTES) return { type: 'invalid', reason: `input frame over ${MAX_INPUT_BYTES} bytes` };
      return { type: 'input', data: body };
    case FRAME.resize: {
      if (body.length !== 4) return { type: 'invalid', reason: 'resize frame must carry 4 bytes (cols, rows)' };
      const cols = body.readUInt16BE(0);
      const rows = body.readUInt16BE(2);
      const { cols: c, rows: r } = SIZE_LIMITS;
      if (cols < c.min || cols > c.max || rows < r.min || rows > r.max) {
        return { type: 'invalid', reason: `terminal size ${cols}×${rows} is out of range (${c.min}–${c.max} × ${r.min}–${r.max})` };
      }
      return { type: 'resize', cols, rows };
    }
    case FRAME.ack: {
      if (body.length !== 4) return { type: 'invalid', reason: 'ack frame must carry 4 bytes' };
      return { type: 'ack', bytes: body.readUInt32BE(0) };
    }
    default:
      return { type: 'invalid', reason: `unknown frame type 0x${(frame[0] ?? 0).toString(16).padStart(2, '0')}` };
  }
}

export const ReadySchema = z.object({ resumed: z.boolean(), replayedBytes: z.number().int(), offset: z.number().int() });
export const ExitSchema = z.object({ code: z.number().int(), signal: z.number().int().optional() });
export const ErrorSchema = z.object({ code: z.string(), message: z.string() });

function frame(type: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.of(type), body]);
}

export const encode = {
  input: (data: Buffer | string) => frame(FRAME.input, Buffer.from(data)),
  resize(cols: number, rows: number) {
    const body = Buffer.alloc(4);
    body.writeUInt16BE(cols, 0);
    body.writeUInt16BE(rows, 2);
    return frame(FRAME.resize, body);
  },
  ack(bytes: number) {
    const body = Buffer.alloc(4);
    body.writeUInt32BE(bytes, 0);
    return frame(FRAME.ack, body);
  },
  output: (data: Buffer) => frame(FRAME.output, data),
  ready: (ready: z.infer<typeof ReadySchema>) => frame(FRAME.ready, Buffer.from(JSON.stringify(ready))),
  exit: (exit: z.infer<typeof ExitSchema>) => frame(FRAME.exit, Buffer.from(JSON.stringify(exit))),
  error: (code: string, message: string) => frame(FRAME.error, Buffer.from(JSON.stringify({ code, message }))),
};

export type ServerFrame =
  | { type: 'output'; data: Buffer }
  | { type: 'ready'; ready: z.infer<typeof ReadySchema> }
  | { type: 'exit'; exit: z.infer<typeof ExitSchema> }
  | { type: 'error'; error: z.infer<typeof ErrorSchema> };

/** For clients (the tests, the bench): a server frame, validated. */
export function decodeServerFrame(frame: Buffer): ServerFrame {
  const body = frame.subarray(1);
  const json = () => JSON.parse(body.toString('utf8')) as unknown;
  switch (frame[0]) {
    case FRAME.output:
      return { type: 'output', data: body };
    case FRAME.ready:
      return { type: 'ready', ready: ReadySchema.parse(json()) };
    case FRAME.exit:
      return { type: 'exit', exit: ExitSchema.parse(json()) };
    case FRAME.error:
      return { type: 'error', error: ErrorSchema.parse(json()) };
    default:
      throw new Error(`unknown server frame type ${frame[0]}`);
  }
}
