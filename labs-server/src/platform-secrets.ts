/**
 * The instructor's admin token and the event's access code. Set them in the
 * environment, or let the first server generate them: they are then kept in
 * a Secret in the platform's namespace, so a restarted server and every
 * replica use the same ones, and printed at start for the instructor.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { ignoreStatus } from '../../cluster/src/kube.ts';
import { SYSTEM_NAMESPACE } from './sandbox/provision.ts';

const SECRET = 'cdl-platform';
/** No 0/O, 1/I/L: read aloud in a room and typed from a slide. */
const CODE_ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';

export interface PlatformSecrets {
  adminToken: string;
  accessCode: string;
  /** Which of them came from the environment (and so are not printed). */
  fromEnv: { adminToken: boolean; accessCode: boolean };
}

export function newAccessCode(): string {
  const pick = () => CODE_ALPHABET[randomInt(CODE_ALPHABET.length)];
  return `${Array.from({ length: 4 }, pick).join('')}-${Array.from({ length: 4 }, pick).join('')}`;
}

function decode(data: Record<string, string> | undefined, key: string): string | undefined {
  const value = data?.[key];
  return value ? Buffer.from(value, 'base64').toString('utf8') : undefined;
}

export async function platformSecrets(
  kc: KubeConfig,
  env: { adminToken?: string | undefined; accessCode?: string | undefined },
): Promise<PlatformSecrets> {
  const core = kc.makeApiClient(CoreV1Api);
  const read = () => core.readNamespacedSecret({ name: SECRET, namespace: SYSTEM_NAMESPACE }).then((s) => s.data, ignoreStatus(404));
  let data = await read();
  if (!data) {
    const stringData = { 'admin-token': randomBytes(24).toString('base64url'), 'access-code': newAccessCode() };
    await core
      .createNamespacedSecret({ namespace: SYSTEM_NAMESPACE, body: { metadata: { name: SECRET }, type: 'Opaque', stringData } })
      .catch(ignoreStatus(409)); // another replica made it first; use theirs
    data = await read();
  }
  return {
    adminToken: env.adminToken ?? decode(data, 'admin-token') ?? '',
    accessCode: env.accessCode ?? decode(data, 'access-code') ?? '',
    fromEnv: { adminToken: env.adminToken !== undefined, accessCode: env.accessCode !== undefined },
  };
}
