/**
 * A release mirror on 127.0.0.1 for the download tests: a static file
 * server over a folder written by `stageMirror`, which can be told to
 * misbehave on one path as a real server or network does: announce a file
 * and close the connection halfway (`truncate`), or send half and then
 * nothing, holding the connection open (`stall`).
 */
import { createReadStream, statSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join, normalize } from 'node:path';

export type Fault = 'truncate' | 'stall';

export interface MirrorServer {
  url: string;
  /** Paths asked for, in order. */
  requests: string[];
  faults: Map<string, Fault>;
  close(): Promise<void>;
}

function sendPart(res: ServerResponse, file: string, size: number, fault: Fault, socket: Socket): void {
  res.writeHead(200, { 'content-length': String(size), 'content-type': 'application/octet-stream' });
  const half = createReadStream(file, { start: 0, end: Math.max(0, Math.floor(size / 2) - 1) });
  res.on('error', () => half.destroy());
  res.on('close', () => half.destroy());
  half.pipe(res, { end: false });
  half.on('end', () => {
    if (fault === 'truncate') socket.destroy();
    // 'stall': nothing more, and the connection stays open until the client gives up.
  });
}

export async function startMirrorServer(root: string): Promise<MirrorServer> {
  const requests: string[] = [];
  const faults = new Map<string, Fault>();
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://mirror').pathname);
    requests.push(path);
    const file = join(root, normalize(path));
    const info = file.startsWith(root) ? statSync(file, { throwIfNoEntry: false }) : undefined;
    if (!info?.isFile()) {
      res.writeHead(404).end('not found');
      return;
    }
    const fault = faults.get(path);
    if (fault) return sendPart(res, file, info.size, fault, req.socket);
    res.writeHead(200, { 'content-length': String(info.size), 'content-type': 'application/octet-stream' });
    createReadStream(file).pipe(res);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    faults,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
