/**
 * What `npm start` and `npm run dev` share: check the settings and the port
 * first (so a mistake is reported in a second, not after the cluster start),
 * load the labs, bring the cluster up (building its binaries the first
 * time), serve the API and the terminals, and say so. Startup errors that a
 * user can fix become one line and a hint instead of a stack trace.
 */

import * as nodeModule from 'node:module';
import { pino } from 'pino';
import { courseCatalog } from '../checks/catalog.ts';
import { chooseProvider, clusterName, createProvider, recordActive } from '../cluster/src/select.ts';
import { ensurePrograms, SANDBOX_PROGRAMS } from '../cluster/src/system-packages.ts';
import { UserError } from '../contract/errors.ts';
import { readConfig, type ServerConfig } from '../labs-server/src/config.ts';
import { assertPortFree } from '../labs-server/src/listen.ts';
import { PreparingServer } from '../labs-server/src/preparing.ts';
import { type LabServer, serverUrl, startLabServer } from '../labs-server/src/server.ts';
import { launchCommand } from '../labs-server/src/terminal/launch.ts';
import { buildSite, siteStale } from './build-site.ts';

export const say = (line: string) => process.stderr.write(`${line}\n`);

export interface PlatformOptions {
  env?: NodeJS.ProcessEnv;
  /** Build the lesson site first when its sources changed (npm start); `npm run dev` has Astro serve it live instead. */
  buildSite: boolean;
  /** Serve the site (and say what is being prepared) on the port while the cluster is prepared (npm start). */
  serveWhilePreparing?: boolean;
}

export interface Platform {
  server: LabServer;
  config: ServerConfig;
  /** Prints the address, the mode and, where generated, the secrets. */
  announce(url: string, startedAt: number): void;
}

export async function startPlatform(options: PlatformOptions): Promise<Platform> {
  const env = options.env ?? process.env;
  const config = readConfig(env);
  await assertPortFree(config.PORT, config.HOST);
  // Verify scripts start as the terminals do: holding none of the server's descriptors.
  const catalog = courseCatalog({ launch: (command) => launchCommand({ command }) });
  // Local workshop shells run in bubblewrap; shells in pods need nothing of this machine.
  if (config.CDL_MODE === 'workshop' && config.TERMINAL_SHELLS === 'local') ensurePrograms(SANDBOX_PROGRAMS, say);
  if (options.buildSite && siteStale()) await buildSite(say);
  const providerName = await chooseProvider(undefined, env);
  const cluster = createProvider(providerName, { env });
  const logger = pino({ level: config.LOG_LEVEL });
  // The lessons are served while the cluster is prepared (minutes, the first time), and the lab server takes over after.
  const preparing = options.serveWhilePreparing ? await PreparingServer.listen({ config, cluster, logger }) : undefined;
  if (preparing) say(`The lessons can be read at ${serverUrl(config)} while the cluster is prepared.`);
  let server: LabServer;
  try {
    await cluster.up(
      (line) => {
        say(line);
        preparing?.say(line);
      },
      (progress) => preparing?.progress(progress),
    );
    // For `npm run cluster` in this checkout; a read-only copy (the server's image) has no use for it.
    await recordActive(clusterName(env), providerName).catch((error: NodeJS.ErrnoException) => {
      if (!['EROFS', 'EACCES', 'EPERM', 'ENOENT'].includes(error.code ?? '')) throw error;
    });
    server = await startLabServer({ config, cluster, catalog, logger, ...(preparing ? { server: preparing.server } : {}) });
    // The bundle's compiled code, for the next start to skip the parse (where scripts/serve.ts enabled the cache).
    nodeModule.flushCompileCache?.();
  } catch (error) {
    await preparing?.close();
    throw error;
  }

  const announce = (url: string, startedAt: number) => {
    say(`\nContainer Day Labs is ready in ${((Date.now() - startedAt) / 1000).toFixed(1)} s: ${url}`);
    say(`  mode: ${config.CDL_MODE} · ${catalog.list().length} labs · cluster: ${providerName} · shells: ${server.shell}`);
    if (config.CDL_MODE === 'workshop') {
      if (!server.secrets.fromEnv.accessCode) say(`  access code for attendees: ${server.secrets.accessCode}`);
      if (!server.secrets.fromEnv.adminToken) say(`  instructor's admin token:  ${server.secrets.adminToken}`);
    } else if (!server.secrets.fromEnv.adminToken) {
      say(`  admin token (instructor dashboard): ${server.secrets.adminToken}`);
    }
  };
  return { server, config, announce };
}

/** Resolves on Ctrl-C or SIGTERM. */
export function untilStopped(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

/** One clear line for the errors a user can fix; anything else is a bug and keeps its stack. */
export function reportStartupError(error: unknown): void {
  // Every failure a person can act on is a UserError: its message, and what to do.
  if (!(error instanceof UserError)) throw error;
  say(`error: ${error.message}${error.hint ? `\n${error.hint}` : ''}`);
  process.exitCode = 1;
}
