/**
 * `npm run cluster -- up|down|status|reset|kubeconfig [--provider local|kind|external]`, and `mirror <folder>`
 *
 * Only `main` touches the process; `runCli` takes its streams and returns an
 * exit code, so the tests drive it like a user would. Progress goes to stderr
 * and results to stdout, which keeps `$(npm run -s cluster -- kubeconfig)` clean.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { UserError } from '../../contract/errors.ts';
import { ClusterError } from './errors.ts';
import { stageMirror } from './local/mirror.ts';
import { hostPlatform } from './local/releases.ts';
import { chooseProvider, clusterName, createProvider, recordActive } from './select.ts';

const USAGE = `usage: npm run cluster -- <command> [--provider local|kind|external] [--real-node | --no-real-node]

commands:
  up          start the cluster (builds the local provider's binaries once), confirm it runs,
              or restart the processes a degraded one lost; the local provider adds a real
              node that runs containers where the machine can (Linux, root): --real-node
              fails if it cannot, --no-real-node never starts it (CDL_REAL_NODE)
  down        remove the cluster and every process of it
  status      say whether the cluster runs, and which of its processes do
              (--json for a machine-readable answer)
  reset       down, then up: a fresh, empty cluster
  karpenter   run Karpenter (with its kwok cloud provider) beside the local cluster; built
              the first time, which takes minutes
  kubeconfig  print the path of the cluster's kubeconfig, e.g.
              export KUBECONFIG=$(npm run -s cluster -- kubeconfig)
  mirror <folder>
              write the local provider's binaries into <folder> laid out like their release
              servers, checksums beside them, for a static file server that CDL_BINARY_MIRROR
              then names (an event's own mirror)`;

export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    io.stderr(`${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  const { command, folder, provider: flag, json, help, realNode } = parsed;
  if (help || !command) {
    (help ? io.stdout : io.stderr)(`${USAGE}\n`);
    return help ? 0 : 2;
  }
  const log = (line: string) => io.stderr(`${line}\n`);
  try {
    if (command === 'mirror') {
      if (!folder) {
        io.stderr(`mirror needs the folder to write into.\n\n${USAGE}\n`);
        return 2;
      }
      const platform = hostPlatform();
      if (!platform)
        throw new ClusterError(
          `no release is published for ${process.platform}/${process.arch}`,
          'Write the mirror on Linux or macOS, amd64 or arm64.',
        );
      const files = await stageMirror(resolve(folder), platform, { log, env: io.env });
      io.stdout(
        `${files} files for ${platform.os}/${platform.arch} in ${resolve(folder)}; serve it and set CDL_BINARY_MIRROR to its address.\n`,
      );
      return 0;
    }
    if (folder !== undefined) throw new UserError('usage', `One command at a time, not "${command} ${folder}".`);
    // The flag is the setting, said for one command.
    const env = realNode === undefined ? io.env : { ...io.env, CDL_REAL_NODE: realNode ? 'on' : 'off' };
    const name = await chooseProvider(flag, env);
    const provider = createProvider(name, { env });
    const cluster = clusterName(io.env);
    switch (command) {
      case 'up': {
        const status = await provider.up(log);
        await recordActive(cluster, name);
        io.stdout(`${status.state}: ${status.detail}\nkubeconfig: ${status.kubeconfig}\n`);
        return status.state === 'running' ? 0 : 1;
      }
      case 'down':
        await provider.down(log);
        await recordActive(cluster, undefined);
        return 0;
      case 'reset': {
        await provider.down(log);
        const status = await provider.up(log);
        await recordActive(cluster, name);
        io.stdout(`${status.state}: ${status.detail}\n`);
        return status.state === 'running' ? 0 : 1;
      }
      case 'status': {
        const status = await provider.status();
        io.stdout(
          json
            ? `${JSON.stringify({ ...status, capabilities: provider.capabilities })}\n`
            : `${status.provider}: ${status.state}: ${status.detail}\n`,
        );
        return status.state === 'running' ? 0 : 1;
      }
      case 'karpenter': {
        if (!provider.addKarpenter) {
          throw new ClusterError(
            `Karpenter is added to the local provider's cluster only, not to ${name}'s.`,
            'On kind or EKS, install Karpenter with its Helm chart (https://karpenter.sh/docs/getting-started/).',
          );
        }
        await provider.addKarpenter(log);
        const status = await provider.status();
        io.stdout(`${status.state}: ${status.detail}\n`);
        return status.state === 'running' ? 0 : 1;
      }
      case 'kubeconfig':
        if (!existsSync(provider.kubeconfig)) {
          io.stderr(`There is no kubeconfig yet (${provider.kubeconfig}): start the cluster with \`npm run cluster -- up\`.\n`);
          return 1;
        }
        io.stdout(`${provider.kubeconfig}\n`);
        return 0;
      default:
        io.stderr(`Unknown command "${command}".\n\n${USAGE}\n`);
        return 2;
    }
  } catch (error) {
    // A bad CDL_* setting is the user's to fix as much as a cluster that cannot start.
    if (error instanceof UserError) {
      io.stderr(`error: ${error.message}\n${error.hint ?? ''}\n`);
      return 1;
    }
    throw error;
  }
}

function parse(argv: readonly string[]) {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    allowNegative: true,
    options: {
      provider: { type: 'string' },
      'real-node': { type: 'boolean' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (positionals.length > 2 || (positionals.length === 2 && positionals[0] !== 'mirror')) {
    throw new Error(`One command at a time, not "${positionals.join(' ')}".`);
  }
  return {
    command: positionals[0],
    folder: positionals[1],
    provider: values.provider,
    json: values.json,
    help: values.help,
    realNode: values['real-node'],
  };
}
