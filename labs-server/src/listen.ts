/**
 * Binding the port, with the one failure everyone meets turned into a
 * sentence: another program already listening on it.
 */

import type { RequestListener } from 'node:http';
import { createServer, type Server } from 'node:http';
import { UserError } from '../../contract/errors.ts';

export class PortInUseError extends UserError {
  constructor(port: number, host: string, options?: ErrorOptions) {
    super(
      'port_in_use',
      `port ${port} on ${host} is already in use by another program.`,
      `Stop that program, or start on another port: PORT=${port + 1} npm start`,
      options,
    );
  }
}

export function listen(handler: RequestListener, port: number, host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer(handler);
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE') {
        reject(new PortInUseError(port, host, { cause: error }));
      } else {
        reject(error);
      }
    });
    server.listen(port, host, () => resolve(server));
  });
}

/** Fails early, before a long cluster start, if the port is taken. */
export async function assertPortFree(port: number, host: string): Promise<void> {
  const probe = await listen(() => {}, port, host);
  await new Promise<void>((resolve) => probe.close(() => resolve()));
}
