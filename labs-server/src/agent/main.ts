/**
 * `node labs-server/src/agent/main.ts`: the terminal agent as a program (the
 * shell pods' command). Its settings are the agent group of
 * contract/settings.ts; a bad one stops it with the variable named.
 */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { findKubectl } from '../../../cluster/src/kubectl.ts';
import { UserError } from '../../../contract/errors.ts';
import { agentSettings, SettingsError } from '../../../contract/settings.ts';
import { startAgent } from './agent.ts';

const MIN_SECRET = 32;

/**
 * In a pod, the API server is the `kubernetes` Service, whose address the
 * kubelet puts in every container's environment; the kubeconfig a lab server
 * sends names the API server as that server reaches it.
 */
function inClusterApiServer(env: NodeJS.ProcessEnv): string | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  if (!host) return undefined;
  return `https://${host.includes(':') ? `[${host}]` : host}:${env.KUBERNETES_SERVICE_PORT ?? '443'}`;
}

try {
  const settings = agentSettings();
  let secret: string;
  try {
    secret = readFileSync(settings.CDL_AGENT_SECRET_FILE, 'utf8').trim();
  } catch (error) {
    throw new SettingsError(`CDL_AGENT_SECRET_FILE: cannot be read: ${(error as Error).message}`, ['CDL_AGENT_SECRET_FILE']);
  }
  if (secret.length < MIN_SECRET) {
    throw new SettingsError(`CDL_AGENT_SECRET_FILE: the secret must be at least ${MIN_SECRET} characters long`, ['CDL_AGENT_SECRET_FILE']);
  }
  const logger = pino({ level: process.env.LOG_LEVEL ?? 'info' });
  const apiServer = inClusterApiServer(process.env);
  const agent = await startAgent({
    secret,
    port: settings.CDL_AGENT_PORT,
    host: settings.CDL_AGENT_HOST,
    workDir: settings.CDL_AGENT_DIR ?? join(tmpdir(), `cdl-agent-${process.pid}`),
    kubectl: findKubectl(),
    ...(apiServer ? { apiServer } : {}),
    graceMs: settings.CDL_AGENT_GRACE_SECONDS * 1000,
    logger,
  });
  logger.info({ port: agent.port }, 'terminal agent listening');
  const stop = () => {
    agent.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
} catch (error) {
  if (!(error instanceof UserError)) throw error;
  process.stderr.write(`error: ${error.message}${error.hint ? `\n${error.hint}` : ''}\n`);
  process.exitCode = 1;
}
