/**
 * The lab server's settings, read once from the environment and validated,
 * so a typo in a variable fails at start with its name instead of later.
 */
import { BlockList, isIP } from 'node:net';
import { z } from 'zod';
import { weakAccessCode } from './access-code.ts';

const minutes = (fallback: number) =>
  z.coerce
    .number()
    .positive()
    .max(7 * 24 * 60)
    .default(fallback);

export const ServerConfigSchema = z.object({
  /** TCP port of the site and API. Default 4321. */
  PORT: z.coerce.number().int().min(1).max(65535).default(4321),
  /** Address to listen on. Default loopback; set 0.0.0.0 to serve a room. */
  HOST: z.string().min(1).default('127.0.0.1'),
  /** pino log level. Default info. */
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /**
   * `single`: one learner on their own machine, no access code, a plain shell.
   * `workshop`: many learners, joining needs the access code, shells run in bubblewrap.
   * Default single.
   */
  CDL_MODE: z.enum(['single', 'workshop']).default('single'),
  /** The event's access code (workshop mode). Generated and printed at start when unset. */
  CDL_ACCESS_CODE: z
    .string()
    .max(64)
    .superRefine((code, ctx) => {
      const problem = weakAccessCode(code);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional(),
  /** The instructor's admin token. Kept in the cluster and printed at start when unset. */
  CDL_ADMIN_TOKEN: z.string().min(16).max(256).optional(),
  /** How long a session lives after its last activity (up to SESSION_MAX_MINUTES). Default 240 minutes. */
  SESSION_TTL_MINUTES: minutes(240),
  /** Activity never keeps a session longer than this from its start; the instructor can still extend it. Default 720 minutes. */
  SESSION_MAX_MINUTES: minutes(720),
  /** Sandboxes of a session idle this long are removed (progress is kept). Default 60 minutes. */
  SESSION_IDLE_MINUTES: minutes(60),
  /** A closed terminal's shell waits this long for its browser to come back. Default 60 s. */
  TERMINAL_GRACE_SECONDS: z.coerce.number().int().min(0).max(3600).default(60),
  /** Memory of one workshop shell, its tmpfs home and /tmp included (where the server can make cgroups). Default 768 MiB. */
  TERMINAL_MEMORY_MIB: z.coerce.number().int().min(128).max(65_536).default(768),
  /** Processes and threads of one workshop shell. Default 256. */
  TERMINAL_PROCESSES: z.coerce.number().int().min(32).max(65_536).default(256),
  /** CPU of one workshop shell, in cores (where the server can make cgroups). Default 0.5. */
  TERMINAL_CPUS: z.coerce.number().min(0.05).max(64).default(0.5),
  /**
   * Origins allowed to open WebSockets, comma-separated, e.g. `https://labs.example.org`.
   * Default: http://localhost:PORT and http://127.0.0.1:PORT.
   */
  PUBLIC_ORIGINS: z.string().optional(),
  /** Mark cookies Secure (serve over HTTPS). Default: true when every public origin is https. */
  SECURE_COOKIES: z.enum(['true', 'false']).optional(),
  /**
   * Which proxies in front of the server to believe about the client's
   * address (X-Forwarded-For): a number of hops, or comma-separated addresses,
   * CIDR ranges or `loopback`, `linklocal`, `uniquelocal`. Default: none; the
   * socket's address is the client's.
   */
  TRUST_PROXY: z
    .string()
    .superRefine((value, ctx) => {
      const problem = trustProxyProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .optional(),
  /** Live sessions one client address may hold (workshop mode); 0 for no limit. Default 3. */
  SESSIONS_PER_ADDRESS: z.coerce.number().int().min(0).max(10_000).default(3),
  /**
   * Addresses or CIDR ranges that a whole room shares (a venue's NAT),
   * comma-separated: they are not held to SESSIONS_PER_ADDRESS, and may join
   * and mistype the code more often. Default: none.
   */
  SHARED_ADDRESSES: z
    .string()
    .superRefine((value, ctx) => {
      const { problems } = addressList(value);
      if (problems.length) ctx.addIssue({ code: 'custom', message: `not an address or CIDR range: ${problems.join(', ')}` });
    })
    .optional(),
  /** Live sessions the whole workshop may hold, across every replica. Default 200. */
  MAX_SESSIONS: z.coerce.number().int().min(1).max(100_000).default(200),
  /** When set, `/metrics` needs `Authorization: Bearer <METRICS_TOKEN>`. Default: open. */
  METRICS_TOKEN: z.string().min(16).max(256).optional(),
});
export type ServerConfig = z.infer<typeof ServerConfigSchema>;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function readConfig(env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const parsed = ServerConfigSchema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid server settings in the environment: ${problems}`);
  }
  return parsed.data;
}

/** The origins a browser page of this server can have. */
export function allowedOrigins(config: ServerConfig): string[] {
  if (config.PUBLIC_ORIGINS) {
    return config.PUBLIC_ORIGINS.split(',')
      .map((o) => o.trim().replace(/\/$/, ''))
      .filter(Boolean);
  }
  return [`http://localhost:${config.PORT}`, `http://127.0.0.1:${config.PORT}`];
}

export function secureCookies(config: ServerConfig): boolean {
  if (config.SECURE_COOKIES) return config.SECURE_COOKIES === 'true';
  return allowedOrigins(config).every((o) => o.startsWith('https://'));
}

const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** Parses `a.b.c.d`, `a.b.c.d/n`, `x::y` or `x::y/n`; undefined when it is none of them. */
function parseAddress(entry: string): { address: string; prefix?: number; type: 'ipv4' | 'ipv6' } | undefined {
  const [address = '', prefix, ...rest] = entry.split('/');
  const version = isIP(address);
  if (version === 0 || rest.length > 0) return undefined;
  const type = version === 4 ? 'ipv4' : 'ipv6';
  if (prefix === undefined) return { address, type };
  const bits = Number(prefix);
  if (!/^\d+$/.test(prefix) || bits > (version === 4 ? 32 : 128)) return undefined;
  return { address, prefix: bits, type };
}

function addressList(value: string) {
  const entries = value
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  return { entries, problems: entries.filter((e) => parseAddress(e) === undefined) };
}

function trustProxyProblem(value: string): string | undefined {
  const v = value.trim();
  if (v === '' || v === 'false' || /^\d+$/.test(v)) return undefined;
  if (v === 'true') {
    return 'true would let any client choose its own address; name the proxies (e.g. loopback or 10.0.0.0/8) or the number of hops';
  }
  const bad = addressList(v).entries.filter((e) => !PROXY_NAMES.has(e) && parseAddress(e) === undefined);
  return bad.length ? `not an address, CIDR range, hop count, loopback, linklocal or uniquelocal: ${bad.join(', ')}` : undefined;
}

/** Express's `trust proxy` value for TRUST_PROXY: false (the socket's address), hops, or the proxies' addresses. */
export function trustProxy(config: ServerConfig): false | number | string[] {
  const v = config.TRUST_PROXY?.trim() ?? '';
  if (v === '' || v === 'false' || v === '0') return false;
  if (/^\d+$/.test(v)) return Number(v);
  return addressList(v).entries;
}

/** The addresses of SHARED_ADDRESSES, to test a client's address against. */
export function sharedAddresses(config: ServerConfig): BlockList {
  const list = new BlockList();
  for (const entry of addressList(config.SHARED_ADDRESSES ?? '').entries) {
    const parsed = parseAddress(entry);
    if (!parsed) continue;
    if (parsed.prefix === undefined) list.addAddress(parsed.address, parsed.type);
    else list.addSubnet(parsed.address, parsed.prefix, parsed.type);
  }
  return list;
}
