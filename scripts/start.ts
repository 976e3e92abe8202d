/**
 * `npm start`: the whole platform on one machine. Checks the settings and
 * the port first (so a mistake is reported in a second, not after the
 * cluster start), loads the labs, builds the lesson site when its sources
 * changed, brings the cluster up (building its binaries the first time),
 * then serves the site, the API and the terminals
 * and prints the address, and in workshop mode the access code and the
 * instructor's token. The cluster keeps running after Ctrl-C, so the next
 * start takes seconds; `npm run cluster -- down` stops it.
 */
import { pino } from 'pino';
import { CatalogError, courseCatalog } from '../checks/catalog.ts';
import { ClusterError } from '../cluster/src/errors.ts';
import { chooseProvider, clusterName, createProvider, recordActive } from '../cluster/src/select.ts';
import { LabContentError } from '../content/load.ts';
import { ConfigError, readConfig } from '../labs-server/src/config.ts';
import { assertPortFree, PortInUseError } from '../labs-server/src/listen.ts';
import { startLabServer } from '../labs-server/src/server.ts';
import { buildSite, SiteBuildError, siteStale } from './build-site.ts';
import { ensurePrograms, SANDBOX_PROGRAMS, SystemPackageError } from './system-packages.ts';

const say = (line: string) => process.stderr.write(`${line}\n`);

async function main(): Promise<number> {
  const started = Date.now();
  const config = readConfig();
  await assertPortFree(config.PORT, config.HOST);
  const catalog = courseCatalog();
  if (config.CDL_MODE === 'workshop') ensurePrograms(SANDBOX_PROGRAMS, say);
  if (siteStale()) await buildSite(say);
  const providerName = await chooseProvider(undefined);
  const cluster = createProvider(providerName);
  await cluster.up(say);
  await recordActive(clusterName(), providerName);
  const logger = pino({ level: config.LOG_LEVEL });
  const server = await startLabServer({ config, cluster, catalog, logger });

  say(`\nContainer Day Labs is ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${server.url}`);
  say(`  mode: ${config.CDL_MODE} · ${catalog.list().length} labs · cluster: ${providerName} · shells: ${server.shell}`);
  if (config.CDL_MODE === 'workshop') {
    if (!server.secrets.fromEnv.accessCode) say(`  access code for attendees: ${server.secrets.accessCode}`);
    if (!server.secrets.fromEnv.adminToken) say(`  instructor's admin token:  ${server.secrets.adminToken}`);
  } else if (!server.secrets.fromEnv.adminToken) {
    say(`  admin token (instructor dashboard): ${server.secrets.adminToken}`);
  }
  say('Press Ctrl-C to stop the server; the cluster keeps running (`npm run cluster -- down` stops it).');
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await server.close();
  return 0;
}

try {
  process.exitCode = await main();
} catch (error) {
  if (error instanceof ClusterError || error instanceof SystemPackageError) {
    say(`error: ${error.message}\n${error.hint}`);
  } else if (error instanceof PortInUseError) {
    say(`error: ${error.message}.\nStop that program, or start on another port: PORT=4322 npm start`);
  } else if (
    error instanceof ConfigError ||
    error instanceof LabContentError ||
    error instanceof CatalogError ||
    error instanceof SiteBuildError
  ) {
    say(`error: ${error.message}`);
  } else {
    throw error;
  }
  process.exitCode = 1;
}
