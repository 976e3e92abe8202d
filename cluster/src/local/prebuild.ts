/**
 * Builds (or finds in the cache) the local provider's binaries without
 * starting a cluster: the Docker image's build stage runs this, and so can
 * anyone who wants the long cold build out of the way before an event.
 */
import { ensureBinaries } from './binaries.ts';

const binaries = await ensureBinaries({ log: (line) => process.stderr.write(`${line}\n`) });
process.stdout.write(`${JSON.stringify(binaries, null, 2)}\n`);
