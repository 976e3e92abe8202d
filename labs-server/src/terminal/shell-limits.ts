/**
 * What one workshop shell may use of the host, so that a fork bomb or a
 * memory hog in one learner's shell cannot take the machine from the rest
 * of the room.
 *
 * Where the server may make control groups (root, with cgroup v2 or v1's
 * pids, memory and cpu controllers mounted), each shell gets a group of its
 * own with a process count, a memory limit (files in its tmpfs home and /tmp
 * count too) and a CPU share; the launcher joins it before it drops to the
 * learner's uid, so nothing the learner starts is ever outside it. Resource
 * limits (rlimits) apply in every case: processes per uid (each shell has a
 * uid of its own, so this is a per-shell count even without cgroups), the
 * largest file, open files, no core dumps, and, only where there are no
 * cgroups, an address-space cap per process. All shells together are held
 * below the host's memory and process ids, and weigh as sixteen processes
 * when the CPU is contended.
 */

import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { processAlive } from '../../../cluster/src/exec.ts';

export interface ShellLimits {
  /** Processes (and threads) of one shell. */
  pids: number;
  /** Memory of one shell, tmpfs files included (with cgroups). */
  memoryBytes: number;
  /** CPU of one shell, in cores. */
  cpus: number;
  /** Size of the shell's /tmp (a tmpfs). */
  tmpBytes: number;
  /** Size of the shell's home (a tmpfs). */
  homeBytes: number;
  /** The largest file a shell may write. */
  fileBytes: number;
  /** Open files per process. */
  openFiles: number;
  /** Address space per process, used only where there are no cgroups. */
  addressSpaceBytes: number;
}

const MiB = 1024 * 1024;
/** What all shells together may take of the host's memory and process ids. */
const ALL_SHELLS_SHARE = 0.75;
/**
 * The CPU weight of all shells together against the host's other processes
 * (1024 is one process's; v2's weight 100). Put in one group, the shells
 * would otherwise weigh as one process: in a room of 200 the learners'
 * echo waited behind the server and the cluster (p99 1.1 s against 0.23 s).
 * Sixteen processes' worth keeps the server and the cluster their share
 * when many shells are busy, and each shell still has its own cap.
 */
const SHELLS_CPU_SHARES = 1024 * 16;

export const DEFAULT_SHELL_LIMITS: ShellLimits = {
  pids: 256,
  memoryBytes: 768 * MiB,
  cpus: 0.5,
  tmpBytes: 64 * MiB,
  homeBytes: 128 * MiB,
  fileBytes: 128 * MiB,
  openFiles: 1024,
  addressSpaceBytes: 8 * 1024 * MiB,
};

/** `ulimit` arguments for bash (sizes in KiB), soft and hard. */
export function ulimitArgs(limits: ShellLimits, withCgroups: boolean): string[] {
  const args = ['-u', String(limits.pids), '-f', String(Math.floor(limits.fileBytes / 1024)), '-n', String(limits.openFiles), '-c', '0'];
  if (!withCgroups) args.push('-v', String(Math.floor(limits.addressSpaceBytes / 1024)));
  return args;
}

type Layout = { version: 2; root: string } | { version: 1; roots: { pids: string; memory: string; cpu: string } };

function detectLayout(base: string): Layout | undefined {
  if (process.getuid?.() !== 0) return undefined;
  if (existsSync(join(base, 'cgroup.controllers'))) {
    const enabled = readFileSync(join(base, 'cgroup.subtree_control'), 'utf8');
    if (['pids', 'memory', 'cpu'].every((c) => enabled.includes(c))) return { version: 2, root: base };
    return undefined;
  }
  const roots = { pids: join(base, 'pids'), memory: join(base, 'memory'), cpu: join(base, 'cpu') };
  if (Object.values(roots).every((dir) => existsSync(join(dir, 'cgroup.procs')))) return { version: 1, roots };
  return undefined;
}

async function killAndRemove(dir: string): Promise<void> {
  // A shell's own cleanup may remove its group while this walks them (a server closing as shells end).
  const entries = await readdir(dir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (!entries) return;
  for (const entry of entries) {
    if (entry.isDirectory()) await killAndRemove(join(dir, entry.name));
  }
  for (let attempt = 0; attempt < 40; attempt += 1) {
    const pids = (await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // already gone
      }
    }
    try {
      await rmdir(dir);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY') throw error;
      await sleep(50);
    }
  }
}

/**
 * A control group per shell under one group of this server's
 * (`cdl-terminals-<pid>`), made by `create` and removed, with any process
 * left in it, by `remove`.
 */
export class ShellCgroups {
  readonly version: 1 | 2;
  private readonly layout: Layout;
  private readonly parentName: string;
  private readonly limits: ShellLimits;

  private constructor(layout: Layout, parentName: string, limits: ShellLimits) {
    this.layout = layout;
    this.version = layout.version;
    this.parentName = parentName;
    this.limits = limits;
  }

  /** The cgroups of this machine, or undefined where the server cannot make them. */
  static async detect(limits: ShellLimits, base = '/sys/fs/cgroup'): Promise<ShellCgroups | undefined> {
    const layout = detectLayout(base);
    if (!layout) return undefined;
    // Several servers may share a process (the tests do): the name carries the pid and a random part.
    const cgroups = new ShellCgroups(layout, `cdl-terminals-${process.pid}-${randomBytes(4).toString('hex')}`, limits);
    try {
      await cgroups.sweepStale();
      for (const dir of cgroups.parents()) await mkdir(dir, { recursive: true });
      if (layout.version === 2) await writeFile(join(layout.root, cgroups.parentName, 'cgroup.subtree_control'), '+pids +memory +cpu');
      await cgroups.limitAll();
      return cgroups;
    } catch {
      await cgroups.removeAll().catch(() => undefined);
      return undefined;
    }
  }

  private roots(): string[] {
    return this.layout.version === 2 ? [this.layout.root] : Object.values(this.layout.roots);
  }

  private parents(): string[] {
    return this.roots().map((root) => join(root, this.parentName));
  }

  /** Groups left by servers of this host that crashed. */
  private async sweepStale(): Promise<void> {
    for (const root of this.roots()) {
      for (const entry of await readdir(root, { withFileTypes: true })) {
        const match = /^cdl-terminals-(\d+)-[0-9a-f]+$/.exec(entry.name);
        if (!entry.isDirectory() || !match) continue;
        if (!processAlive(Number(match[1]))) await killAndRemove(join(root, entry.name));
      }
    }
  }

  /**
   * Bounds every shell together, below the host's own limits, so that many
   * shells each just under their own limit still leave the server, the
   * cluster and the rest of the host room: three quarters of the memory and
   * of the process ids.
   */
  private async limitAll(): Promise<void> {
    const memory = Math.floor(totalmem() * ALL_SHELLS_SHARE);
    const pidMax = Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim()) || 32_768;
    const pids = Math.floor(pidMax * ALL_SHELLS_SHARE);
    if (this.layout.version === 2) {
      const dir = join(this.layout.root, this.parentName);
      await writeFile(join(dir, 'memory.max'), String(memory));
      await writeFile(join(dir, 'pids.max'), String(pids));
      await writeFile(join(dir, 'cpu.weight'), String(Math.round((SHELLS_CPU_SHARES / 1024) * 100)));
      return;
    }
    await writeFile(join(this.layout.roots.memory, this.parentName, 'memory.limit_in_bytes'), String(memory));
    await writeFile(join(this.layout.roots.cpu, this.parentName, 'cpu.shares'), String(SHELLS_CPU_SHARES));
    await writeFile(join(this.layout.roots.pids, this.parentName, 'pids.max'), String(pids));
  }

  /** Makes the group of one shell; returns the `cgroup.procs` files its launcher joins. */
  async create(id: string): Promise<string[]> {
    const { pids, memoryBytes, cpus } = this.limits;
    const period = 100_000;
    const quota = Math.max(1000, Math.round(cpus * period));
    if (this.layout.version === 2) {
      const dir = join(this.layout.root, this.parentName, id);
      await mkdir(dir);
      await writeFile(join(dir, 'pids.max'), String(pids));
      await writeFile(join(dir, 'memory.max'), String(memoryBytes));
      await writeFile(join(dir, 'memory.swap.max'), '0').catch(() => undefined);
      await writeFile(join(dir, 'cpu.max'), `${quota} ${period}`);
      return [join(dir, 'cgroup.procs')];
    }
    const { roots } = this.layout;
    const dirs = {
      pids: join(roots.pids, this.parentName, id),
      memory: join(roots.memory, this.parentName, id),
      cpu: join(roots.cpu, this.parentName, id),
    };
    for (const dir of Object.values(dirs)) await mkdir(dir);
    await writeFile(join(dirs.pids, 'pids.max'), String(pids));
    await writeFile(join(dirs.memory, 'memory.limit_in_bytes'), String(memoryBytes));
    await writeFile(join(dirs.cpu, 'cpu.cfs_period_us'), String(period));
    await writeFile(join(dirs.cpu, 'cpu.cfs_quota_us'), String(quota));
    return Object.values(dirs).map((dir) => join(dir, 'cgroup.procs'));
  }

  /** Ends whatever is left in a shell's group and removes it. */
  async remove(id: string): Promise<void> {
    for (const parent of this.parents()) await killAndRemove(join(parent, id));
  }

  async removeAll(): Promise<void> {
    for (const parent of this.parents()) await killAndRemove(parent);
  }
}
