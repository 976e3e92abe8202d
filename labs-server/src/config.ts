/**
 * The lab server's settings, read once from the environment and validated,
 * so a bad value fails at start with the variable named instead of later.
 * The variables, their defaults and their rules are the server group of
 * contract/settings.ts; this module adds the access code's strength rule and
 * turns the values into what Express and the server use.
 */
import { BlockList } from 'node:net';
import type { z } from 'zod';
import {
  type Environment,
  listEntries,
  parseAddressRange,
  readSettings,
  ServerSettingsSchema,
  SettingsError,
} from '../../contract/settings.ts';
import { weakAccessCode } from './access-code.ts';

/**
 * The server's group of contract/settings.ts, which defines and documents
 * every variable, with the one rule that lives here: how strong an access
 * code must be (access-code.ts).
 */
export const ServerConfigSchema = ServerSettingsSchema.extend({
  CDL_ACCESS_CODE: ServerSettingsSchema.shape.CDL_ACCESS_CODE.unwrap()
    .superRefine((code, ctx) => {
      const problem = weakAccessCode(code);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional(),
});
export type ServerConfig = z.infer<typeof ServerConfigSchema>;

/** A setting is wrong; the message names each variable and its problem. The same class as every settings error. */
export { SettingsError as ConfigError };

export function readConfig(env: Environment = process.env): ServerConfig {
  const config = readSettings(ServerConfigSchema, env, 'server');
  const credentials = [config.CDL_XAPI_USERNAME, config.CDL_XAPI_PASSWORD].filter((v) => v !== undefined).length;
  if (credentials === 1) {
    const missing = config.CDL_XAPI_USERNAME === undefined ? 'CDL_XAPI_USERNAME' : 'CDL_XAPI_PASSWORD';
    throw new SettingsError(`${missing}: must be set too: the learning record store takes a user name and a password together`, [missing]);
  }
  if (credentials === 2 && config.CDL_XAPI_ENDPOINT === undefined) {
    throw new SettingsError('CDL_XAPI_ENDPOINT: must be set for CDL_XAPI_USERNAME and CDL_XAPI_PASSWORD to be used', ['CDL_XAPI_ENDPOINT']);
  }
  return config;
}

/** The origins a browser page of this server can have. */
export function allowedOrigins(config: ServerConfig): string[] {
  return config.PUBLIC_ORIGINS ?? [`http://localhost:${config.PORT}`, `http://127.0.0.1:${config.PORT}`];
}

export function secureCookies(config: ServerConfig): boolean {
  if (config.SECURE_COOKIES) return config.SECURE_COOKIES === 'true';
  return allowedOrigins(config).every((o) => o.startsWith('https://'));
}

/** Express's `trust proxy` value for TRUST_PROXY: false (the socket's address), hops, or the proxies' addresses. */
export function trustProxy(config: ServerConfig): false | number | string[] {
  const v = config.TRUST_PROXY?.trim() ?? '';
  if (v === '' || v === 'false' || v === '0') return false;
  if (/^\d+$/.test(v)) return Number(v);
  return listEntries(v);
}

/** The addresses of SHARED_ADDRESSES, to test a client's address against. */
export function sharedAddresses(config: ServerConfig): BlockList {
  const list = new BlockList();
  for (const entry of listEntries(config.SHARED_ADDRESSES ?? '')) {
    const parsed = parseAddressRange(entry);
    if (!parsed) continue;
    if (parsed.prefix === undefined) list.addAddress(parsed.address, parsed.type);
    else list.addSubnet(parsed.address, parsed.prefix, parsed.type);
  }
  return list;
}
