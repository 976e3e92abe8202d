/**
 * A release mirror on 127.0.0.1 for the download tests: a static file
 * server over a folder written by `stageMirror`, which can be told to
 * misbehave on one path as a real server or network does: announce a file
 * and close the connection halfway (`truncate`), send half and then
 * nothing, holding the connection open (`stall`), or send half and the
 * rest only when the test says (`hold`: a slow download it controls).
 */
import { createReadStream, statSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join, normalize } from 'node:path';

export type Fault = 'truncate' | 'stall' | { hold: Promise<void> };

export interface MirrorServer {
  url: string;
  /** Paths asked for, in order. */
  requests: string[];
  faults: Map<string, Fault>;
  /** Holds the second half of `path` until the returned function is called. */
  hold(path: string): () => void;
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
    else if (typeof fault === 'object') {
      void fault.hold.then(() => {
        if (!res.destroyed) createReadStream(file, { start: Math.max(0, Math.floor(size / 2)) }).pipe(res);
      });
    }
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
    hold(path) {
      let release: () => void = () => undefined;
      faults.set(path, {
        hold: new Promise<void>((resolve) => {
          release = resolve;
        }),
      });
      return () => {
        faults.delete(path);
        release();
      };
    },
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
