/**
 * The terminal protocol in the browser (see docs/terminal.md): binary
 * frames whose first byte is the type. Mirrors labs-server/src/terminal/protocol.ts
 * without Node's Buffer.
 */
export const FRAME = { input: 0x00, resize: 0x01, ack: 0x02, output: 0x10, ready: 0x11, exit: 0x12, error: 0x13 } as const;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function inputFrame(text: string): Uint8Array<ArrayBuffer> {
  const body = encoder.encode(text);
  const frame = new Uint8Array(body.length + 1);
  frame[0] = FRAME.input;
  frame.set(body, 1);
  return frame;
}

export function resizeFrame(cols: number, rows: number): Uint8Array<ArrayBuffer> {
  const frame = new Uint8Array(5);
  const view = new DataView(frame.buffer);
  frame[0] = FRAME.resize;
  view.setUint16(1, cols);
  view.setUint16(3, rows);
  return frame;
}

export function ackFrame(bytes: number): Uint8Array<ArrayBuffer> {
  const frame = new Uint8Array(5);
  frame[0] = FRAME.ack;
  new DataView(frame.buffer).setUint32(1, bytes);
  return frame;
}

export type ServerFrame =
  | { type: 'output'; data: Uint8Array }
  | { type: 'ready'; resumed: boolean; replayedBytes: number; offset: number }
  | { type: 'exit'; code: number; signal?: number }
  | { type: 'error'; code: string; message: string }
  | { type: 'unknown' };

export function decode(frame: ArrayBuffer): ServerFrame {
  const bytes = new Uint8Array(frame);
  const body = bytes.subarray(1);
  switch (bytes[0]) {
    case FRAME.output:
      return { type: 'output', data: body };
    case FRAME.ready:
      return { type: 'ready', ...JSON.parse(decoder.decode(body)) };
    case FRAME.exit:
      return { type: 'exit', ...JSON.parse(decoder.decode(body)) };
    case FRAME.error:
      return { type: 'error', ...JSON.parse(decoder.decode(body)) };
    default:
      return { type: 'unknown' };
  }
}
