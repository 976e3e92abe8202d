/**
 * One interface for every kind of cluster the labs run on. The lab server and
 * the tests only see this; which provider stands behind it is chosen once
 * (`select.ts`) from the command line, the environment, or what the machine has.
 */

export type ProviderName = 'local' | 'kind' | 'external';

/** What a cluster can do, so a lab that needs more can say why it is unavailable. */
export interface Capabilities {
  /** Pods run real containers (logs, exec, real networking); on the local provider, those of a namespace bound to its real node. */
  runsContainers: boolean;
  /** NetworkPolicy objects are enforced, not just stored (on the local provider: between the real node's pods). */
  enforcesNetworkPolicy: boolean;
  /** The platform created this cluster and may give a learner all of it (`cluster`-scope labs). */
  ownedByPlatform: boolean;
  /** The platform can read the API server's audit log (`ClusterProvider.auditLog`) and give each learner their share. */
  auditLog: boolean;
}

export type ClusterState = 'running' | 'stopped' | 'degraded';

/** The nodes that run real containers among simulated ones: how to select them and the taint to tolerate. */
/** The platform's own images: the shell pods' and the lab server's (the Helm chart's). */
export type PlatformImage = 'shell' | 'server';

export interface ContainerNodes {
  /** The node's name: a pod bound there by name bypasses the scheduler (and its taints). */
  nodeName: string;
  label: { key: string; value: string };
  taint: { key: string; value: string; effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute' };
}

/** One process of a control plane that the platform runs itself (the local provider's). */
export interface ComponentStatus {
  /** The component's name, e.g. `kube-scheduler`. */
  name: string;
  running: boolean;
  /** Its process id, while it runs. */
  pid?: number;
}

export interface ClusterStatus {
  provider: ProviderName;
  state: ClusterState;
  /** One line for people: what is running, or what is wrong. */
  detail: string;
  kubeconfig: string;
  /** The API server's version, when it answered. */
  serverVersion?: string;
  nodesReady?: number;
  nodesTotal?: number;
  /**
   * Every process the control plane needs, running or not, where the platform
   * runs them itself (the local provider); a provider whose control plane
   * someone else keeps alive (kind, external) leaves this out.
   */
  components?: ComponentStatus[];
  /**
   * Whether pods can run real containers now (the local provider's real
   * node runs); a provider that cannot tell leaves it out.
   */
  runsContainers?: boolean;
  /** Why containers do not run, when they do not (the real node is off, cannot run here, or is down). */
  realNode?: string;
}

/** Progress lines for people; they go to stderr so stdout stays machine-readable. */
export type Log = (line: string) => void;

/** How far a long part of `up` is (the local provider's binaries downloaded or built), for a progress bar. */
export interface UpProgress {
  /** What is being made, e.g. `kubernetes`. */
  part: string;
  action: 'downloading' | 'building';
  done: number;
  /** The size of the download, or how many packages the build needs at most (when known). */
  total?: number;
  unit: 'bytes' | 'packages';
}

export interface ClusterProvider {
  readonly name: ProviderName;
  readonly capabilities: Capabilities;
  /** The kubeconfig file for this cluster (it exists once `up` has run). */
  readonly kubeconfig: string;
  /**
   * Where pods that must run real containers go, when only some nodes run
   * them (the local provider's real node): the node's label and taint. A lab
   * that needs containers gets its namespaces bound there. Absent where every
   * node runs containers (kind, EKS).
   */
  readonly containerNodes?: ContainerNodes;
  /** The API server's audit log on this machine (JSON lines), where `capabilities.auditLog` says there is one. */
  readonly auditLog?: string;
  /** Creates the cluster, confirms a running one, or repairs a degraded one where it can; safe to call again. */
  up(log: Log, progress?: (progress: UpProgress) => void): Promise<ClusterStatus>;
  /** Removes the cluster and waits until nothing of it runs. */
  down(log: Log): Promise<void>;
  status(): Promise<ClusterStatus>;
  /**
   * Runs Karpenter beside the cluster, with a cloud whose instances are the
   * cluster's own kind of node; only the local provider can (kwok nodes).
   */
  addKarpenter?(log: Log, progress?: (progress: UpProgress) => void): Promise<void>;
  /**
   * Puts the platform's own images (the shell pods') where the nodes find
   * them without a registry: the local provider's real node. Absent where
   * the images come from a registry (kind loads them itself, EKS pulls).
   */
  importImages?(images: readonly PlatformImage[], log: Log): Promise<void>;
}
