/**
 * Whether something built from sources must be built again: the newest
 * change under its sources against the built file's own time. The lesson
 * site and the server bundle both ask it at every `npm start`.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The latest modification time of `path`, or of anything under it; 0 when it does not exist. */
export function newestChange(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((entry) => newestChange(join(path, entry))));
}

/** Whether `built` is missing or older than a change under `sources`. */
export function olderThanSources(built: string, sources: readonly string[]): boolean {
  return !existsSync(built) || Math.max(...sources.map(newestChange)) > statSync(built).mtimeMs;
}
