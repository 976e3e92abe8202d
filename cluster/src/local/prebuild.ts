/**
 * Builds (or finds in the cache) the local provider's binaries without
 * starting a cluster, the real node's and Karpenter's included: the Docker image's build stage
 * runs this, and so can anyone who wants the long cold build out of the way
 * before an event.
 */
import { clusterSettings } from '../../../contract/settings.ts';
import { ensureBinaries, ensureKarpenter, ensureNodeBinaries } from './binaries.ts';

const log = (line: string) => process.stderr.write(`${line}\n`);
const binaries = await ensureBinaries({ log });
// The real node's programs (kubelet, kube-proxy, CoreDNS, kube-router) run on Linux only, and not
// where the real node is off (the Docker image).
const realNode = process.platform === 'linux' && clusterSettings().CDL_REAL_NODE !== 'off';
const node = realNode ? await ensureNodeBinaries({ log }) : {};
const karpenter = await ensureKarpenter({ log });
process.stdout.write(`${JSON.stringify({ ...binaries, ...node, ...karpenter }, null, 2)}\n`);
