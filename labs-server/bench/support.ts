/**
 * What the benches share: quantiles, a process's memory and CPU time from
 * /proc, pinning to a core, and a lab server started by the bench's own
 * code (logging off). Their terminal client is the tests' one,
 * `test/support/terminal-client.ts`.
 */

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { courseCatalog } from '../../checks/catalog.ts';
import { chooseProvider, createProvider } from '../../cluster/src/select.ts';
import { freePort } from '../../test/support/ports.ts';
import { readConfig } from '../src/config.ts';
import { type LabServer, startLabServer } from '../src/server.ts';
import { launchCommand } from '../src/terminal/launch.ts';

export function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

/** The median (the mean of the middle two of an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export interface ProcessStatus {
  /** Resident size now and at its peak (VmRSS, VmHWM), in bytes. */
  rss: number;
  peakRss: number;
  /** The cores it may run on (Cpus_allowed_list), e.g. "0". */
  cpus: string;
}

/** A process's resident and peak size and its cores, from /proc/PID/status. */
export function processStatus(pid: number | 'self'): ProcessStatus {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim() ?? '';
  const kib = (name: string) => Number.parseInt(field(name), 10) * 1024;
  return { rss: kib('VmRSS'), peakRss: kib('VmHWM'), cpus: field('Cpus_allowed_list') };
}

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** The CPU time a process (all its threads) has used, user and system, in seconds, from /proc/PID/stat. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name may hold spaces and parentheses: fields are counted after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

export const hasTaskset = spawnSync('taskset', ['--version']).status === 0;

/** A command line that runs `command` pinned to `core` (with `taskset`, where it exists). */
export function pinned(core: number, command: string, args: string[]): [string, string[]] {
  return hasTaskset ? ['taskset', ['-c', String(core), command, ...args]] : [command, args];
}

/**
 * A lab server started by the bench's own code (not as a user starts it):
 * the course's labs and the cluster (started if it is not running), logging
 * off, no site, on `port` (a free one by default).
 */
export async function startBenchServer(
  mode: 'single' | 'workshop',
  accessCode: string,
  port?: number,
): Promise<{ server: LabServer; origin: string; kubeconfig: string }> {
  port ??= await freePort();
  // Every learner of a bench comes from this machine: loopback is a shared address, as a room behind one NAT is.
  // The server's other settings come from the environment, as for `npm start` (TERMINAL_CPUS=2 node …).
  const config = readConfig({
    ...process.env,
    PORT: String(port),
    LOG_LEVEL: 'silent',
    CDL_MODE: mode,
    CDL_ACCESS_CODE: accessCode,
    SHARED_ADDRESSES: '127.0.0.1,::1',
    MAX_SESSIONS: '1000',
  });
  const cluster = createProvider(await chooseProvider(undefined));
  await cluster.up((line) => console.error(line));
  const server = await startLabServer({
    config,
    cluster,
    catalog: courseCatalog({ launch: (command) => launchCommand({ command }) }),
    logger: pino({ level: 'silent' }),
    siteDir: '/nonexistent',
  });
  return { server, origin: `http://localhost:${port}`, kubeconfig: cluster.kubeconfig };
}
