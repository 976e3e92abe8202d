/**
 * The terminal's wire protocol, for the server, the page and every other
 * client alike (docs/terminal.md): one WebSocket per terminal, binary frames,
 * the first byte naming the frame's type. Terminal bytes travel raw (no
 * base64, no JSON), so a UTF-8 character split across two frames is simply
 * joined by the receiver's streaming decoder. Control frames have fixed
 * layouts or small JSON bodies. Written on `Uint8Array` and `DataView`, so the
 * browser and Node use the same file (a Node Buffer is a Uint8Array).
 *
 * Client → server:
 *   0x00 INPUT   keystrokes, raw bytes (≤ 16 KiB)
 *   0x01 RESIZE  u16 cols, u16 rows (big-endian; 2–500 cols, 1–200 rows)
 *   0x02 ACK     u32 bytes of output the client has processed since its last ACK
 * Server → client:
 *   0x10 OUTPUT  raw bytes from the shell
 *   0x11 READY   JSON { resumed, replayedBytes, offset }: the shell is attached
 *   0x12 EXIT    JSON { code, signal? }: the shell ended
 *   0x13 ERROR   JSON { code, message }: a frame was refused; the shell lives on
 *
 * Close codes the page acts on: 1012 (the server is stopping: reconnect at
 * once), 4001 (another window took the terminal), 1008 and 1011 (the
 * connection or the shell ended for a reason given; do not retry).
 */
import * as z from 'zod/mini';

export const FRAME = {
  input: 0x00,
  resize: 0x01,
  ack: 0x02,
  output: 0x10,
  ready: 0x11,
  exit: 0x12,
  error: 0x13,
} as const;

/** The server is stopping (a replica being replaced, RFC 6455's "service restart"): the client reconnects at once. */
export const CLOSE_RESTART = 1012;

export const MAX_INPUT_BYTES = 16 * 1024;
/** The largest frame a client may send; the server closes the socket (1009) above it. */
export const MAX_CLIENT_FRAME = MAX_INPUT_BYTES + 1;
export const SIZE_LIMITS = { cols: { min: 2, max: 500 }, rows: { min: 1, max: 200 } } as const;
/**
 * The rule of acknowledgements (docs/terminal.md, "Flow control"): a client
 * never holds this many bytes or more of processed output unacknowledged.
 */
export const MAX_ACK_STEP = 64 * 1024;

export const ReadySchema = z.object({
  /** The shell was already running: this is a reconnect. */
  resumed: z.boolean(),
  /** Bytes of earlier output sent again after this frame. */
  replayedBytes: z.number().check(z.int()),
  /** The position of the first replayed byte in the shell's whole output. */
  offset: z.number().check(z.int()),
});
export const ExitSchema = z.object({ code: z.number().check(z.int()), signal: z.optional(z.number().check(z.int())) });
export const ErrorSchema = z.object({ code: z.string(), message: z.string() });
export type Ready = z.infer<typeof ReadySchema>;
export type Exit = z.infer<typeof ExitSchema>;
export type FrameError = z.infer<typeof ErrorSchema>;

export type ClientFrame =
  | { type: 'input'; data: Uint8Array }
  | { type: 'resize'; cols: number; rows: number }
  | { type: 'ack'; bytes: number }
  | { type: 'invalid'; reason: string };

export type ServerFrame =
  | { type: 'output'; data: Uint8Array }
  | { type: 'ready'; ready: Ready }
  | { type: 'exit'; exit: Exit }
  | { type: 'error'; error: FrameError }
  | { type: 'invalid'; reason: string };

const utf8 = new TextEncoder();
const text = new TextDecoder();

function typeName(type: number | undefined): string {
  return `0x${(type ?? 0).toString(16).padStart(2, '0')}`;
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A frame from a client, checked before anything acts on it. The data of an input frame is a view, not a copy. */
export function decodeClientFrame(frame: Uint8Array): ClientFrame {
  if (frame.length === 0) return { type: 'invalid', reason: 'empty frame' };
  const body = frame.subarray(1);
  switch (frame[0]) {
    case FRAME.input:
      if (body.length === 0) return { type: 'invalid', reason: 'input frame with no bytes' };
      if (body.length > MAX_INPUT_BYTES) return { type: 'invalid', reason: `input frame over ${MAX_INPUT_BYTES} bytes` };
      return { type: 'input', data: body };
    case FRAME.resize: {
      if (body.length !== 4) return { type: 'invalid', reason: 'resize frame must carry 4 bytes (cols, rows)' };
      const cols = view(body).getUint16(0);
      const rows = view(body).getUint16(2);
      const { cols: c, rows: r } = SIZE_LIMITS;
      if (cols < c.min || cols > c.max || rows < r.min || rows > r.max) {
        return { type: 'invalid', reason: `terminal size ${cols}×${rows} is out of range (${c.min}–${c.max} × ${r.min}–${r.max})` };
      }
      return { type: 'resize', cols, rows };
    }
    case FRAME.ack:
      if (body.length !== 4) return { type: 'invalid', reason: 'ack frame must carry 4 bytes' };
      return { type: 'ack', bytes: view(body).getUint32(0) };
    default:
      return { type: 'invalid', reason: `unknown frame type ${typeName(frame[0])}` };
  }
}

function json<T>(schema: z.ZodMiniType<T>, body: Uint8Array): T | undefined {
  try {
    const parsed = schema.safeParse(JSON.parse(text.decode(body)));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** A frame from the server; one that does not follow the protocol is `invalid`, for the client to report. */
export function decodeServerFrame(frame: Uint8Array | ArrayBuffer): ServerFrame {
  const bytes = frame instanceof Uint8Array ? frame : new Uint8Array(frame);
  const body = bytes.subarray(1);
  const control = <T>(schema: z.ZodMiniType<T>, make: (value: T) => ServerFrame): ServerFrame => {
    const value = json(schema, body);
    return value === undefined ? { type: 'invalid', reason: `malformed ${typeName(bytes[0])} frame` } : make(value);
  };
  switch (bytes[0]) {
    case FRAME.output:
      return { type: 'output', data: body };
    case FRAME.ready:
      return control(ReadySchema, (ready) => ({ type: 'ready', ready }));
    case FRAME.exit:
      return control(ExitSchema, (exit) => ({ type: 'exit', exit }));
    case FRAME.error:
      return control(ErrorSchema, (error) => ({ type: 'error', error }));
    default:
      return { type: 'invalid', reason: `unknown frame type ${typeName(bytes[0])}` };
  }
}

/** A frame of `type` around `body`, in one allocation. */
function frame(type: number, body: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(body.length + 1);
  out[0] = type;
  out.set(body, 1);
  return out;
}

function fixed(type: number, write: (view: DataView) => void): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(5);
  out[0] = type;
  write(new DataView(out.buffer, 1));
  return out;
}

const jsonFrame = (type: number, value: unknown) => frame(type, utf8.encode(JSON.stringify(value)));

export const encode = {
  input: (data: Uint8Array | string) => frame(FRAME.input, typeof data === 'string' ? utf8.encode(data) : data),
  resize: (cols: number, rows: number) =>
    fixed(FRAME.resize, (v) => {
      v.setUint16(0, cols);
      v.setUint16(2, rows);
    }),
  ack: (bytes: number) => fixed(FRAME.ack, (v) => v.setUint32(0, bytes)),
  output: (data: Uint8Array) => frame(FRAME.output, data),
  /** One output frame of several pieces (a batch of pty reads), in one allocation with one copy of each byte. */
  outputOf(pieces: readonly Uint8Array[], bytes: number): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(bytes + 1);
    out[0] = FRAME.output;
    let at = 1;
    for (const piece of pieces) {
      out.set(piece, at);
      at += piece.length;
    }
    return out;
  },
  ready: (ready: Ready) => jsonFrame(FRAME.ready, ready),
  exit: (exit: Exit) => jsonFrame(FRAME.exit, exit),
  error: (code: string, message: string) => jsonFrame(FRAME.error, { code, message } satisfies FrameError),
};
