/**
 * The lab server's settings, read once from the environment and validated,
 * so a typo in a variable fails at start with its name instead of later.
 */
import { z } from 'zod';

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
  CDL_ACCESS_CODE: z.string().min(4).max(64).optional(),
  /** The instructor's admin token. Kept in the cluster and printed at start when unset. */
  CDL_ADMIN_TOKEN: z.string().min(16).max(256).optional(),
  /** How long a session lives before it must be extended. Default 240 minutes. */
  SESSION_TTL_MINUTES: minutes(240),
  /** Sandboxes of a session idle this long are removed (progress is kept). Default 60 minutes. */
  SESSION_IDLE_MINUTES: minutes(60),
  /** A closed terminal's shell waits this long for its browser to come back. Default 60 s. */
  TERMINAL_GRACE_SECONDS: z.coerce.number().int().min(0).max(3600).default(60),
  /**
   * Origins allowed to open WebSockets, comma-separated, e.g. `https://labs.example.org`.
   * Default: http://localhost:PORT and http://127.0.0.1:PORT.
   */
  PUBLIC_ORIGINS: z.string().optional(),
  /** Mark cookies Secure (serve over HTTPS). Default: true when every public origin is https. */
  SECURE_COOKIES: z.enum(['true', 'false']).optional(),
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
