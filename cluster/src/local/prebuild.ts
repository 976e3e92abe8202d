/**
 * Builds (or finds in the cache) the local provider's binaries without
 * starting a cluster, Karpenter's included: the Docker image's build stage
 * runs this, and so can anyone who wants the long cold build out of the way
 * before an event.
 */
import { ensureBinaries, ensureKarpenter } from './binaries.ts';

const log = (line: string) => process.stderr.write(`${line}\n`);
const binaries = await ensureBinaries({ log });
const karpenter = await ensureKarpenter({ log });
process.stdout.write(`${JSON.stringify({ ...binaries, ...karpenter }, null, 2)}\n`);
