/**
 * A first start, as a new user meets it, for the tests: `npm start`'s real
 * entry (`scripts/serve.ts`) in single-user mode with an empty binary cache
 * and a local cluster of its own, downloading from a mirror on 127.0.0.1
 * (this machine's cached binaries, staged as the release servers lay them
 * out) whose kube-apiserver download is held halfway until the test lets it
 * through, as a slow line would hold it. Ready, here, is the home page
 * answering: the cluster is still being prepared.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { VERSIONS } from '../../cluster/src/local/binaries.ts';
import { stageMirror } from '../../cluster/src/local/mirror.ts';
import { LocalProvider } from '../../cluster/src/local/provider.ts';
import { hostPlatform, mirrored, releaseFiles } from '../../cluster/src/local/releases.ts';
import { projectRoot } from '../../cluster/src/paths.ts';
import { recordActive } from '../../cluster/src/select.ts';
import { startMirrorServer } from './mirror-server.ts';
import { freePort } from './ports.ts';
import { type Running, runEntry } from './process.ts';

export interface FirstStart {
  origin: string;
  port: number;
  running: Running;
  /** Seconds from the start to the home page answering. */
  servedAfter: number;
  /** Lets the held download through. */
  release(): void;
  /** Stops the server, removes its cluster, its cache and the mirror. */
  stop(): Promise<void>;
}

export async function firstStart(clusterName: string): Promise<FirstStart> {
  const platform = hostPlatform();
  if (!platform) throw new Error(`no release is published for ${process.platform}/${process.arch}`);
  // Beside the binary cache where possible, so that the mirror's files are hard links rather than copies.
  const base = join(homedir(), '.cache');
  const scratch = await mkdtemp(join(existsSync(base) ? base : tmpdir(), 'cdl-first-start-'));
  const cacheDir = join(scratch, 'cache');
  await stageMirror(join(scratch, 'mirror'), platform, { log: () => undefined });
  const mirror = await startMirrorServer(join(scratch, 'mirror'));
  const apiserver = releaseFiles({ id: 'kubernetes', version: VERSIONS.kubernetes, files: ['kube-apiserver'] }, platform);
  if (typeof apiserver === 'string') throw new Error(apiserver);
  const release = mirror.hold(new URL(mirrored(apiserver[0]?.url as string, mirror.url)).pathname);

  const stop = async () => {
    release();
    await running?.stop('SIGTERM');
    const env = { ...process.env, CDL_CACHE_DIR: cacheDir, CDL_CLUSTER_NAME: clusterName };
    await new LocalProvider({ clusterName, env }).down(() => undefined);
    await rm(join(projectRoot, '.cluster', clusterName), { recursive: true, force: true });
    await recordActive(clusterName, undefined);
    await mirror.close();
    await rm(scratch, { recursive: true, force: true });
  };
  const port = await freePort();
  const started = Date.now();
  let running: Running | undefined;
  try {
    running = await runEntry({
      script: 'scripts/serve.ts',
      port,
      readyUrl: `http://127.0.0.1:${port}/`,
      timeoutMs: 60_000,
      env: {
        PORT: String(port),
        CDL_MODE: 'single',
        CDL_PROVIDER: 'local',
        CDL_CLUSTER_NAME: clusterName,
        CDL_CACHE_DIR: cacheDir,
        CDL_BINARIES: 'download',
        CDL_BINARY_MIRROR: mirror.url,
        // The real node is one per machine, and the shared test cluster's; this start is about the page.
        CDL_REAL_NODE: 'off',
        LOG_LEVEL: 'warn',
      },
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { origin: `http://localhost:${port}`, port, running, servedAfter: (Date.now() - started) / 1000, release, stop };
}
