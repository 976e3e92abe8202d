/**
 * The `local` provider: a real control plane (etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler) run as local processes by
 * kwokctl's binary runtime, with kwok simulating the nodes. Everything a lab
 * checks through the API (scheduling, Jobs, RBAC, admission, Pod Security)
 * behaves as in a real cluster. Containers run only on the one real node
 * beside them (real-node.ts), where the machine allows it (CDL_REAL_NODE).
 *
 * Two kwokctl defaults are unsafe for a laptop and are overridden here: it
 * would write the user's ~/.kube/config (we pass a project-local path), and
 * it would bind every component, etcd included, to 0.0.0.0 (we bind to
 * 127.0.0.1 through its configuration file).
 *
 * Nothing restarts a component that exits, so `status` checks every process
 * (control-plane.ts) and `up` on a degraded cluster restarts only the missing
 * ones with `kwokctl start cluster`, keeping etcd's data and with it every
 * learner's session; only when that fails does it start a fresh cluster.
 * The real node's processes count like the control plane's; one gone makes
 * `up` start the node again from clean.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { clusterSettings } from '../../../contract/settings.ts';
import { ClusterError } from '../errors.ts';
import { formatDuration, processAlive, run, tail } from '../exec.ts';
import { apiState, applyObjects, deleteLeases, loadKubeConfig, waitFor } from '../kube.ts';
import { kubeconfigPath, stateDir } from '../paths.ts';
import type {
  Capabilities,
  ClusterProvider,
  ClusterStatus,
  ComponentStatus,
  ContainerNodes,
  Log,
  PlatformImage,
  UpProgress,
} from '../provider.ts';
import { ensureBinaries, ensureKarpenter, type LocalBinaries, VERSIONS } from './binaries.ts';
import { assess, type ComponentName, canServe, inspectControlPlane, missingPhrase, pidFile, processesPhrase } from './control-plane.ts';
import { installKarpenterApis, KARPENTER, spawnKarpenter } from './karpenter.ts';
import { NODE_SPECS, nodeObject } from './nodes.ts';
import {
  cannotRunRealNode,
  cleanUpRealNode,
  importImages,
  type RealNodePlace,
  readRealNodeRecord,
  startRealNode,
  writeRealNodeRecord,
} from './real-node.ts';
import { isRealNodeComponent, nodeLayout, REAL_NODE_LABEL, REAL_NODE_NAME, REAL_NODE_TAINT } from './real-node-config.ts';
import { mountsUnder } from './real-node-host-state.ts';

export interface LocalProviderOptions {
  /** Names the kwokctl cluster and its state folder; the tests use their own. */
  clusterName?: string;
  /** The project root under which `.cluster/` lives. */
  root?: string;
  env?: NodeJS.ProcessEnv;
  /** Whether `up` starts the real node (real-node.ts); CDL_REAL_NODE in `env` by default. */
  realNode?: 'auto' | 'on' | 'off';
}

/** Where the API server writes its audit log, and the policy that says what goes in it. */
export interface AuditFiles {
  policy: string;
  log: string;
}

/**
 * The API server's audit policy: who did what to which object, at the
 * Metadata level (never a request's or a response's body, so no Secret's
 * value reaches the log), without the controllers' and kwok's own busy work
 * (leases, events, status updates, endpoints), watches, or health probes.
 */
export function auditPolicy(): string {
  const policy = {
    apiVersion: 'audit.k8s.io/v1',
    kind: 'Policy',
    omitStages: ['RequestReceived'],
    omitManagedFields: true,
    rules: [
      { level: 'None', nonResourceURLs: ['/*'] },
      { level: 'None', verbs: ['watch'] },
      {
        level: 'None',
        resources: [
          { group: 'coordination.k8s.io', resources: ['leases'] },
          { group: '', resources: ['events', 'endpoints', 'nodes/status', 'pods/status'] },
          { group: 'events.k8s.io', resources: ['events'] },
          { group: 'discovery.k8s.io', resources: ['endpointslices'] },
        ],
      },
      { level: 'Metadata' },
    ],
  };
  return `${JSON.stringify(policy, null, 2)}\n`;
}

/** The certificate the API server presents to a kubelet (the real node's), whose webhook authorises it like any user. */
export interface KubeletClientFiles {
  cert: string;
  key: string;
}

/**
 * The cluster's Service addresses (the API server's own default, said
 * out loud), and the first of them, the `kubernetes` Service's: the API
 * server's certificate names it, so a pod's in-cluster client (which
 * connects to that address) can verify the server.
 */
export const SERVICE_RANGE = '10.0.0.0/24';
export const KUBERNETES_SERVICE_IP = '10.0.0.1';

/** The kwokctl configuration file: binaries, versions, loopback-only binding, the audit log, and how to reach a real kubelet. */
export function kwokctlConfig(binaries: LocalBinaries, audit?: AuditFiles, kubeletClient?: KubeletClientFiles): string {
  const options = {
    runtime: 'binary',
    bindAddress: '127.0.0.1',
    kubeVersion: VERSIONS.kubernetes,
    etcdVersion: VERSIONS.etcd.replace(/^v/, ''),
    kubeApiserverBinary: binaries.kubeApiserver,
    kubeControllerManagerBinary: binaries.kubeControllerManager,
    kubeSchedulerBinary: binaries.kubeScheduler,
    kubectlBinary: binaries.kubectl,
    etcdBinary: binaries.etcd,
    kwokControllerBinary: binaries.kwok,
    kubeAuthorization: true,
    kubeAdmission: true,
    // Made into the certificate when the cluster is first created (kwokctl keeps its pki after).
    kubeApiserverCertSANs: [KUBERNETES_SERVICE_IP],
  };
  // A lone controller manager or scheduler has no rival to elect against, and
  // with leader election on it exits when the API server is slow to renew its
  // lease (under load), and nothing would start it again.
  const componentsPatches = [
    {
      name: 'kube-apiserver',
      extraArgs: [
        // The real node's kubelet is reached at its InternalIP (the pods'
        // bridge), never by its name, which nothing resolves; logs and exec go there.
        { key: 'kubelet-preferred-address-types', value: 'InternalIP,Hostname' },
        { key: 'service-cluster-ip-range', value: SERVICE_RANGE },
        // A lab that runs containers has its namespaces bound to the real node by their
        // annotations: a default node selector and toleration (labs-server/src/sandbox/provision.ts).
        { key: 'enable-admission-plugins', value: 'PodNodeSelector,PodTolerationRestriction' },
        ...(kubeletClient
          ? [
              { key: 'kubelet-client-certificate', value: kubeletClient.cert },
              { key: 'kubelet-client-key', value: kubeletClient.key },
            ]
          : []),
        ...(audit
          ? [
              { key: 'audit-policy-file', value: audit.policy },
              { key: 'audit-log-path', value: audit.log },
              // One spare file of 100 MB: a day's workshop, without filling a laptop's disk.
              { key: 'audit-log-maxsize', value: '100' },
              { key: 'audit-log-maxbackup', value: '1' },
            ]
          : []),
      ],
    },
    ...['kube-controller-manager', 'kube-scheduler'].map((name) => ({
      name,
      extraArgs: [{ key: 'leader-elect', value: 'false' }],
    })),
    // kwok takes over the nodes it simulates (NODE_SPECS, and those Karpenter
    // makes: both carry its annotation), never a real node beside them.
    {
      name: 'kwok-controller',
      extraArgs: [
        { key: 'manage-all-nodes', value: 'false' },
        { key: 'manage-nodes-with-annotation-selector', value: 'kwok.x-k8s.io/node=fake' },
      ],
    },
  ];
  const config = { kind: 'KwokctlConfiguration', apiVersion: 'config.kwok.x-k8s.io/v1alpha1', options, componentsPatches };
  return `${JSON.stringify(config, null, 2)}\n`;
}

/** Why containers do not run when the real node was turned off. */
const REAL_NODE_OFF = 'the real node is off (CDL_REAL_NODE=off or --no-real-node)';

export class LocalProvider implements ClusterProvider {
  readonly name = 'local' as const;
  /**
   * `runsContainers` and `enforcesNetworkPolicy` follow the real node (its
   * firewall, kube-router, is one of its processes): `status()` updates them
   * in place, so whoever holds this object sees the change.
   */
  readonly capabilities: Capabilities = { runsContainers: false, enforcesNetworkPolicy: false, ownedByPlatform: true, auditLog: true };
  readonly kubeconfig: string;
  readonly containerNodes: ContainerNodes = { nodeName: REAL_NODE_NAME, label: REAL_NODE_LABEL, taint: REAL_NODE_TAINT };
  readonly auditLog: string;
  readonly clusterName: string;
  private readonly dir: string;
  private readonly env: NodeJS.ProcessEnv;
  private readonly realNodeMode: 'auto' | 'on' | 'off';
  /** A forced real node that failed during a repair: `up` reports it once the control plane is back, rather than starting afresh. */
  private realNodeFailure: unknown;

  constructor(options: LocalProviderOptions = {}) {
    this.clusterName = options.clusterName ?? 'cdl';
    this.dir = stateDir(this.clusterName, options.root);
    this.kubeconfig = kubeconfigPath(this.clusterName, options.root);
    this.auditLog = join(this.dir, 'audit', 'audit.log');
    this.env = options.env ?? process.env;
    this.realNodeMode = options.realNode ?? clusterSettings(this.env).CDL_REAL_NODE;
  }

  /** Where the real node lives and what it talks to. */
  private get realNode(): RealNodePlace {
    return { clusterName: this.clusterName, stateDir: this.dir, clusterDir: this.clusterDir, kubeconfig: this.kubeconfig, env: this.env };
  }

  /** kwokctl's own state (certificates, etcd data, logs, pids) lives here. */
  private get workdir(): string {
    return join(this.dir, 'kwok');
  }

  private get clusterDir(): string {
    return join(this.workdir, 'clusters', this.clusterName);
  }

  private kwokctl(binaries: LocalBinaries, args: string[], timeoutMs = 180_000) {
    return run(binaries.kwokctl, args, { env: { ...this.env, KWOK_WORKDIR: this.workdir }, timeoutMs });
  }

  /** The cluster's processes that are still alive (control plane, add-ons, the real node's), from their pid files. */
  async livePids(): Promise<Array<{ name: string; pid: number }>> {
    const components = await inspectControlPlane(this.clusterDir);
    return components.flatMap(({ name, pid }) => (pid === undefined ? [] : [{ name, pid }]));
  }

  async status(): Promise<ClusterStatus> {
    const components = await inspectControlPlane(this.clusterDir);
    if (!existsSync(this.clusterDir)) {
      this.capabilities.runsContainers = false;
      this.capabilities.enforcesNetworkPolicy = false;
      const base = { provider: this.name, kubeconfig: this.kubeconfig, runsContainers: false, realNode: 'no cluster' } as const;
      return { ...base, state: 'stopped', detail: 'no local cluster; start one with `npm run cluster -- up`', components };
    }
    const { note, ...node } = await this.realNodeState(components);
    this.capabilities.runsContainers = node.runsContainers;
    this.capabilities.enforcesNetworkPolicy = node.runsContainers;
    const base = { provider: this.name, kubeconfig: this.kubeconfig, ...node } as const;
    // Said last, so the detail still starts with what is wrong and reads well in /healthz.
    const withNode = (detail: string) => (note ? `${detail}; containers do not run: ${note}` : detail);
    if (!existsSync(this.kubeconfig)) {
      const problems = [missingPhrase(components), 'a half-started cluster (no kubeconfig)', processesPhrase(components)];
      return { ...base, state: 'degraded', detail: withNode(problems.filter(Boolean).join('; ')), components };
    }
    // Asking an API server whose etcd is gone takes the whole timeout, and /healthz should answer at once.
    if (!canServe(components)) {
      const seen = assess({ components });
      return { ...base, ...seen, detail: withNode(seen.detail), components };
    }
    try {
      const api = await withTimeout(apiState(loadKubeConfig(this.kubeconfig)), 5000);
      const seen = assess({ components, api });
      return { ...base, ...seen, detail: withNode(seen.detail), ...api, components };
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      const seen = assess({ components, api: { error: reason } });
      return { ...base, ...seen, detail: withNode(seen.detail), components };
    }
  }

  /**
   * Whether the real node runs containers, and why not: its processes when
   * it was started (a pid file of each), else what `up` recorded. `note` is
   * the reason for the status line, only where it tells something the line
   * does not (a node that is off on purpose, or whose processes the line
   * already names as missing, needs no note).
   */
  private async realNodeState(
    components: readonly ComponentStatus[],
  ): Promise<{ runsContainers: boolean; realNode?: string; note?: string }> {
    const processes = components.filter((c) => isRealNodeComponent(c.name));
    if (processes.length > 0) {
      const missing = missingPhrase(processes);
      return missing ? { runsContainers: false, realNode: `the real node is down (${missing})` } : { runsContainers: true };
    }
    const record = await readRealNodeRecord(this.realNode);
    const reason = record?.reason ?? 'no real node was started';
    return { runsContainers: false, realNode: reason, ...(reason === REAL_NODE_OFF ? {} : { note: reason }) };
  }

  /**
   * Starts the real node as CDL_REAL_NODE (or the flag) says: `auto` where
   * the machine can, with one line saying why not otherwise; `on` or fail
   * with the reason; `off` not at all (and stops one that runs).
   */
  private async ensureRealNode(log: Log): Promise<void> {
    const place = this.realNode;
    if (this.realNodeMode === 'off') {
      if (existsSync(nodeLayout(this.dir).dir)) {
        if ((await cleanUpRealNode(place, log)).length > 0) log('The real node left things behind; `npm run cluster -- down` tries again.');
        await this.forgetRealNode();
      }
      await writeRealNodeRecord(place, { started: false, reason: REAL_NODE_OFF });
      return;
    }
    const reason = cannotRunRealNode(place) ?? (await this.kubeletClientMissing());
    if (reason) {
      await writeRealNodeRecord(place, { started: false, reason: `the real node cannot run here: ${reason}` });
      if (this.realNodeMode === 'on') {
        throw new ClusterError(`The real node cannot run here: ${reason}.`, 'Start without --real-node to run the simulated nodes alone.');
      }
      log(`No real node: ${reason}. Pods run on the simulated nodes only (--no-real-node skips this).`);
      return;
    }
    try {
      await startRealNode(place, log);
      await writeRealNodeRecord(place, { started: true });
    } catch (error) {
      await cleanUpRealNode(place, () => {});
      await this.forgetRealNode();
      const message = (error instanceof Error ? error.message : String(error)).split('\n')[0];
      await writeRealNodeRecord(place, { started: false, reason: `the real node failed to start: ${message}` });
      if (this.realNodeMode === 'on') throw error;
      // Auto never stops the simulated cluster for the node: it says why in one line, and status keeps the reason.
      log(`No real node: it failed to start (${message}). Pods run on the simulated nodes only; logs in ${join(this.clusterDir, 'logs')}.`);
    }
  }

  /**
   * A cluster made before the real node existed has an API server that
   * presents no client certificate to kubelets: logs and exec would be
   * refused. Says so, or undefined when the certificate is there.
   */
  private async kubeletClientMissing(): Promise<string | undefined> {
    const apiserver = (await inspectControlPlane(this.clusterDir)).find((c) => c.name === 'kube-apiserver');
    if (apiserver?.pid === undefined) return undefined;
    const cmdline = await readFile(`/proc/${apiserver.pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline === '' || cmdline.includes('--kubelet-client-certificate=')) return undefined;
    return 'this cluster was made before it had one (its API server has no client certificate for kubelets); `npm run cluster -- reset` makes one that can';
  }

  /** Deletes the real node's Node object, so that a node that no longer runs does not stay NotReady in the cluster. */
  private async forgetRealNode(): Promise<void> {
    if (!existsSync(this.kubeconfig)) return;
    // Gone already (404), or the API server is down: then the object stays, and the next up or down settles it.
    await loadKubeConfig(this.kubeconfig)
      .makeApiClient(CoreV1Api)
      .deleteNode({ name: REAL_NODE_NAME })
      .catch(() => undefined);
  }

  async up(log: Log, progress?: (progress: UpProgress) => void): Promise<ClusterStatus> {
    const binaries = await ensureBinaries({ log, env: this.env, ...(progress ? { onProgress: progress } : {}) });
    const current = await this.status();
    if (current.state === 'running') {
      // The setting may have changed since the cluster started: `on` starts the node now, `off` stops it.
      const nodeRuns = current.runsContainers === true;
      if ((this.realNodeMode === 'on' && !nodeRuns) || (this.realNodeMode === 'off' && nodeRuns)) {
        await this.ensureRealNode(log);
        return this.status();
      }
      log(`The local cluster "${this.clusterName}" is already running: ${current.detail}.`);
      return current;
    }
    if (current.state === 'degraded') {
      if (existsSync(this.kubeconfig) && existsSync(join(this.clusterDir, 'kwok.yaml'))) {
        this.realNodeFailure = undefined;
        const repaired = await this.repair(binaries, current, log).catch((error: unknown) => {
          log(`The repair failed: ${error instanceof Error ? error.message : String(error)}`);
          return undefined;
        });
        // The cluster's objects are worth more than the node: its failure is said, the cluster kept.
        if (this.realNodeFailure !== undefined) throw this.realNodeFailure;
        if (repaired?.state === 'running') return repaired;
        log(`Removing the cluster "${this.clusterName}" and starting a fresh one instead (its objects are lost).`);
      } else {
        log(`Found a broken cluster from an earlier run (${current.detail}); removing it first.`);
      }
      await this.down(log);
    }
    const started = Date.now();
    log(`Starting the local cluster "${this.clusterName}" (Kubernetes ${VERSIONS.kubernetes}, nodes simulated by kwok)…`);
    await mkdir(this.dir, { recursive: true });
    const configPath = join(this.dir, 'kwokctl.json');
    const audit = { policy: join(this.dir, 'audit-policy.json'), log: this.auditLog };
    await mkdir(dirname(audit.log), { recursive: true });
    await writeFile(audit.policy, auditPolicy());
    const kubeletClient = { cert: join(this.clusterDir, 'pki', 'admin.crt'), key: join(this.clusterDir, 'pki', 'admin.key') };
    await writeFile(configPath, kwokctlConfig(binaries, audit, kubeletClient));
    const created = await this.kwokctl(binaries, [
      'create',
      'cluster',
      '--name',
      this.clusterName,
      '--config',
      configPath,
      '--kubeconfig',
      this.kubeconfig,
      '--wait',
      '2m',
    ]);
    if (created.code !== 0) {
      const logs = join(this.clusterDir, 'logs');
      await this.down(() => {});
      throw new ClusterError(
        `kwokctl could not start the control plane:\n${tail(created.stderr || created.stdout)}`,
        `Look at the component logs in ${logs} if they are still there, then run \`npm run cluster -- up\` again.`,
      );
    }
    await this.ensureNodes();
    await this.ensureRealNode(log);
    const status = await this.status();
    log(`Local cluster ready in ${formatDuration(Date.now() - started)}: ${status.detail}.`);
    return status;
  }

  /**
   * Brings a degraded cluster back in place: kwokctl starts each component
   * whose process is gone (and leaves the running ones alone), then the nodes
   * are applied again in case they never were. A component can exit while
   * another restarts (one that still elects a leader loses its lease while the
   * API server is down), so the missing ones are looked for a second time.
   *
   * A new kwok controller has an identity of its own and will not run pods on
   * a node whose lease the dead one held until that lease expires, 200 s
   * later; so the leases are deleted before it starts, or, when the API
   * server could not be asked first, it is started once more after that.
   */
  private async repair(binaries: LocalBinaries, current: ClusterStatus, log: Log): Promise<ClusterStatus> {
    const started = Date.now();
    log(`The local cluster "${this.clusterName}" is degraded: ${current.detail}.`);
    let status = current;
    for (let round = 1; round <= 2; round++) {
      const missing = (await inspectControlPlane(this.clusterDir)).filter((c) => !c.running).map((c) => c.name);
      log(
        missing.length > 0
          ? `Restarting ${missing.join(', ')}${round > 1 ? ' again' : ''}…`
          : 'Every process runs; waiting for the API server and the nodes…',
      );
      const newKwok = missing.includes('kwok-controller');
      const apiAnswered = status.serverVersion !== undefined;
      if (newKwok && apiAnswered) await this.releaseNodeLeases();
      await this.startMissing(binaries, missing, log);
      if (newKwok && !apiAnswered) {
        log('Restarting kwok-controller once more, now that the API server answers, so that it takes the nodes over at once…');
        await this.stopComponent('kwok-controller');
        await this.releaseNodeLeases();
        await this.startMissing(binaries, ['kwok-controller']);
      }
      await this.ensureNodes();
      status = await this.status();
      if (status.state === 'running') break;
    }
    if (status.state === 'running') {
      log(`Repaired the local cluster "${this.clusterName}" in ${formatDuration(Date.now() - started)}: ${status.detail}.`);
    } else {
      log(`The local cluster "${this.clusterName}" is still degraded after a restart: ${status.detail}.`);
    }
    return status;
  }

  /** Imports images into the running real node (built first where the cache lacks them). */
  async importImages(images: readonly PlatformImage[], log: Log): Promise<void> {
    if (!(await readRealNodeRecord(this.realNode))?.started) {
      throw new ClusterError(
        `The local cluster "${this.clusterName}" has no real node running, and images need one.`,
        'Start it with `npm run cluster -- up --real-node` (Linux, as root).',
      );
    }
    await importImages(this.realNode, images, log);
  }

  /**
   * Adds Karpenter to the running cluster (karpenter.ts): builds it the first
   * time (minutes; progress as for the other binaries), installs its CRDs and
   * node class, and starts it. Nothing happens when it already runs.
   */
  async addKarpenter(log: Log, progress?: (progress: UpProgress) => void): Promise<void> {
    const current = (await inspectControlPlane(this.clusterDir)).find((c) => c.name === KARPENTER);
    if (current?.running) return;
    const binaries = await ensureKarpenter({ log, env: this.env, ...(progress ? { onProgress: progress } : {}) });
    const status = await this.status();
    if (status.serverVersion === undefined) {
      throw new ClusterError(
        `Karpenter needs a running cluster, and "${this.clusterName}" is ${status.state}: ${status.detail}`,
        'Run `npm run cluster -- up` first.',
      );
    }
    await installKarpenterApis(loadKubeConfig(this.kubeconfig), binaries.crds);
    const pid = await spawnKarpenter({ clusterDir: this.clusterDir, kubeconfig: this.kubeconfig }, binaries);
    log(`Karpenter ${VERSIONS.karpenter} runs beside the local cluster "${this.clusterName}" (pid ${pid}).`);
  }

  /** `kwokctl start cluster` starts every component that does not run, and waits until the API server is healthy. */
  private async startMissing(binaries: LocalBinaries, missing: readonly ComponentName[], log: Log = () => {}): Promise<void> {
    // kwokctl skips a component whose pid file names a live process; after a
    // crash that number may belong to another program by now. Add-ons are
    // the platform's own to start, once the API server answers.
    const addOn = missing.includes(KARPENTER);
    const realNode = missing.some(isRealNodeComponent);
    await Promise.all(
      missing.filter((name) => !isRealNodeComponent(name)).map((name) => rm(pidFile(this.clusterDir, name), { force: true })),
    );
    const restarted = await this.kwokctl(binaries, ['start', 'cluster', '--name', this.clusterName, '--wait', '1m'], 150_000);
    if (restarted.code !== 0) {
      throw new ClusterError(
        `kwokctl could not restart the control plane:\n${tail(restarted.stderr || restarted.stdout)}`,
        `Look at the component logs in ${join(this.clusterDir, 'logs')}, then run \`npm run cluster -- reset\`.`,
      );
    }
    if (addOn) await this.addKarpenter(() => {});
    // A node with a process gone starts again from clean: its pods are started again by the new kubelet.
    if (realNode) {
      await this.ensureRealNode(log).catch((error: unknown) => {
        this.realNodeFailure = error;
      });
    }
  }

  /** Stops one component (SIGTERM, then SIGKILL after 10 s) and waits until it is gone. */
  private async stopComponent(name: ComponentName): Promise<void> {
    const pid = (await inspectControlPlane(this.clusterDir)).find((c) => c.name === name)?.pid;
    if (pid === undefined) return;
    signal(pid, 'SIGTERM');
    await waitFor(`${name} to exit`, async () => !processAlive(pid), 10_000, 100).catch(() => signal(pid, 'SIGKILL'));
    await waitFor(`${name} to exit after SIGKILL`, async () => !processAlive(pid), 5_000, 100);
  }

  /** Frees the simulated nodes' leases, which a kwok controller that died still holds. */
  private async releaseNodeLeases(): Promise<void> {
    await deleteLeases(
      loadKubeConfig(this.kubeconfig),
      'kube-node-lease',
      NODE_SPECS.map((n) => n.name),
    );
  }

  /** Applies the simulated nodes (again: applying is idempotent) and waits until all are Ready. */
  private async ensureNodes(): Promise<void> {
    const kc = loadKubeConfig(this.kubeconfig);
    await applyObjects(kc, NODE_SPECS.map(nodeObject));
    await waitFor(
      `${NODE_SPECS.length} nodes to be Ready`,
      async () => {
        const state = await apiState(kc);
        return state.nodesReady >= NODE_SPECS.length;
      },
      60_000,
    );
  }

  async down(log: Log): Promise<void> {
    const components = await inspectControlPlane(this.clusterDir);
    // kwokctl does not know the add-ons: they are stopped here, first, so none acts on a cluster going away.
    for (const { pid } of components.filter((c) => c.name === KARPENTER && c.running)) if (pid) signal(pid, 'SIGTERM');
    // The real node is found by its names and places, not its pid files: it may have crashed or been half-made.
    const leftovers = await cleanUpRealNode(this.realNode, log);
    const before = components.flatMap(({ name, pid }) => (pid === undefined || isRealNodeComponent(name) ? [] : [{ name, pid }]));
    if (existsSync(this.clusterDir)) {
      // kwokctl kills whatever its pid files name: not a program that took a dead component's number.
      await Promise.all(components.filter((c) => !c.running).map((c) => rm(pidFile(this.clusterDir, c.name), { force: true })));
      const binaries = await ensureBinaries({ log, env: this.env }).catch(() => undefined);
      if (binaries)
        await this.kwokctl(binaries, ['delete', 'cluster', '--name', this.clusterName, '--kubeconfig', this.kubeconfig], 60_000);
    }
    // kwokctl returns before its processes have exited; wait, then insist.
    await waitFor('the control plane to exit', async () => (await pidsAlive(before)).length === 0, 10_000).catch(() => undefined);
    for (const { pid } of await pidsAlive(before)) signal(pid, 'SIGKILL');
    await waitFor('the control plane to exit after SIGKILL', async () => (await pidsAlive(before)).length === 0, 5_000);
    // Removing a folder with something mounted below it would delete through the mount.
    const mounted = mountsUnder(await readFile('/proc/self/mountinfo', 'utf8').catch(() => ''), [this.dir]);
    if (mounted.length > 0) {
      throw new ClusterError(
        `${mounted.length} mounts are left under ${this.dir} (${mounted[0]}), so it was not removed: ${leftovers.join('; ')}`,
        'Unmount them (umount -l <path>) and run `npm run cluster -- down` again.',
      );
    }
    await rm(this.dir, { recursive: true, force: true });
    if (before.length > 0) log(`Stopped the local cluster "${this.clusterName}" (${before.map((p) => p.name).join(', ')}).`);
    else log(`No local cluster "${this.clusterName}" was running.`);
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // it exited between the check and the signal
  }
}

async function pidsAlive(pids: ReadonlyArray<{ name: string; pid: number }>) {
  return pids.filter(({ pid }) => processAlive(pid));
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
