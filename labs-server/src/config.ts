/**
 * The lab server's settings, read once from the environment and validated,
 * so a typo in a variable fails at start with its name instead of later.
 */
import { z } from 'zod';

export const ServerConfigSchema = z.object({
  /** TCP port of the site and API. Default 4321. */
  PORT: z.coerce.number().int().min(1).max(65535).default(4321),
  /** Address to listen on. Default loopback; set 0.0.0.0 to serve a room. */
  HOST: z.string().min(1).default('127.0.0.1'),
  /** pino log level. Default info. */
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
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
