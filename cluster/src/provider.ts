/**
 * One interface for every kind of cluster the labs run on. The lab server and
 * the tests only see this; which provider stands behind it is chosen once
 * (`select.ts`) from the command line, the environment, or what the machine has.
 */

export type ProviderName = 'local' | 'kind' | 'external';

/** What a cluster can do, so a lab that needs more can say why it is unavailable. */
export interface Capabilities {
  /** Pods run real containers (logs, exec, real networking). */
  runsContainers: boolean;
  /** NetworkPolicy objects are enforced, not just stored. */
  enforcesNetworkPolicy: boolean;
  /** The platform created this cluster and may give a learner all of it (`cluster`-scope labs). */
  ownedByPlatform: boolean;
}

export type ClusterState = 'running' | 'stopped' | 'degraded';

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
}

/** Progress lines for people; they go to stderr so stdout stays machine-readable. */
export type Log = (line: string) => void;

export interface ClusterProvider {
  readonly name: ProviderName;
  readonly capabilities: Capabilities;
  /** The kubeconfig file for this cluster (it exists once `up` has run). */
  readonly kubeconfig: string;
  /** Creates the cluster, or confirms a running one; safe to call again. */
  up(log: Log): Promise<ClusterStatus>;
  /** Removes the cluster and waits until nothing of it runs. */
  down(log: Log): Promise<void>;
  status(): Promise<ClusterStatus>;
}
