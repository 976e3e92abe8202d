/**
 * `npm start`: the whole platform on one machine. Checks the port first (so a
 * clash is reported in a second, not after the cluster start), brings the
 * cluster up (building its binaries the first time), then serves the site and
 * the API and prints the address. The cluster keeps running after Ctrl-C, so
 * the next start takes seconds; `npm run cluster -- down` stops it.
 */
import { pino } from 'pino';
import { ClusterError } from '../cluster/src/errors.ts';
import { chooseProvider, clusterName, createProvider, recordActive } from '../cluster/src/select.ts';
import { createApp } from '../labs-server/src/app.ts';
import { ConfigError, readConfig } from '../labs-server/src/config.ts';
import { assertPortFree, listen, PortInUseError } from '../labs-server/src/listen.ts';

const say = (line: string) => process.stderr.write(`${line}\n`);

async function main(): Promise<number> {
  const started = Date.now();
  const config = readConfig();
  await assertPortFree(config.PORT, config.HOST);
  const providerName = await chooseProvider(undefined);
  const cluster = createProvider(providerName);
  await cluster.up(say);
  await recordActive(clusterName(), providerName);
  const logger = pino({ level: config.LOG_LEVEL });
  const server = await listen(createApp({ cluster, logger }), config.PORT, config.HOST);
  const host = config.HOST === '0.0.0.0' || config.HOST === '127.0.0.1' ? 'localhost' : config.HOST;
  say(`\nContainer Day Labs is ready in ${((Date.now() - started) / 1000).toFixed(1)} s: http://${host}:${config.PORT}/`);
  say('Press Ctrl-C to stop the server; the cluster keeps running (`npm run cluster -- down` stops it).');
  await new Promise<void>((resolve) => {
    const stop = () => server.close(() => resolve());
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return 0;
}

try {
  process.exitCode = await main();
} catch (error) {
  if (error instanceof ClusterError) {
    say(`error: ${error.message}\n${error.hint}`);
  } else if (error instanceof PortInUseError) {
    say(`error: ${error.message}.\nStop that program, or start on another port: PORT=4322 npm start`);
  } else if (error instanceof ConfigError) {
    say(`error: ${error.message}`);
  } else {
    throw error;
  }
  process.exitCode = 1;
}
