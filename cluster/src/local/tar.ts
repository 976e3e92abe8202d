/**
 * A tar writer for the few entries a container image's layer holds: regular
 * files, folders and symbolic links, in the POSIX ustar format that every
 * tar reader (GNU tar, Go's archive/tar inside containerd) understands.
 * Nothing else (hard links, devices, long names past ustar's 255 bytes, PAX
 * headers) is needed, so nothing else is written; an entry that would need
 * it is refused rather than written wrongly.
 *
 * The output is a function of the entries alone (every timestamp is the
 * same fixed one, no user or group names), so the same files give the same
 * bytes, and an image's layer digest changes only when its files do.
 */

const BLOCK = 512;

interface Owned {
  /** A path inside the archive, relative (`bin/sh`, not `/bin/sh`). */
  path: string;
  /** Permission bits, setuid/setgid and sticky included (`0o1777`). */
  mode?: number;
  uid?: number;
  gid?: number;
}

export type TarEntry =
  | (Owned & { type: 'file'; content: Uint8Array })
  | (Owned & { type: 'dir' })
  | (Omit<Owned, 'mode'> & { type: 'symlink'; target: string });

const DEFAULT_MODE = { file: 0o644, dir: 0o755, symlink: 0o777 } as const;
const TYPE_FLAG = { file: '0', dir: '5', symlink: '2' } as const;

/** Writes `value` as zero-padded octal ending in NUL into `width` bytes at `offset`. */
function octal(header: Buffer, offset: number, width: number, value: number, what: string): void {
  const digits = value.toString(8);
  if (!Number.isSafeInteger(value) || value < 0 || digits.length > width - 1) {
    throw new RangeError(`tar: ${what} ${value} does not fit a ustar header`);
  }
  header.write(`${digits.padStart(width - 1, '0')}\0`, offset, width, 'ascii');
}

function text(header: Buffer, offset: number, width: number, value: string, what: string): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > width) throw new RangeError(`tar: ${what} "${value}" is longer than ${width} bytes`);
  bytes.copy(header, offset);
}

/** Splits a path into ustar's `prefix` (155 bytes) and `name` (100 bytes) at a slash. */
function splitPath(path: string): { prefix: string; name: string } {
  if (Buffer.byteLength(path) <= 100) return { prefix: '', name: path };
  // The name part may itself end in a slash (a folder), so look for the split before that.
  for (let cut = path.lastIndexOf('/', path.length - 2); cut > 0; cut = path.lastIndexOf('/', cut - 1)) {
    const prefix = path.slice(0, cut);
    const name = path.slice(cut + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100) return { prefix, name };
    if (Buffer.byteLength(name) > 100) break;
  }
  throw new RangeError(`tar: the path "${path}" is too long for a ustar header`);
}

function checkPath(path: string): void {
  const parts = path.replace(/\/$/, '').split('/');
  if (path === '' || path.startsWith('/') || path.includes('\0') || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new RangeError(`tar: "${path}" is not a plain relative path`);
  }
}

function header(entry: TarEntry, size: number, mtime: number): Buffer {
  checkPath(entry.path);
  const block = Buffer.alloc(BLOCK);
  const path = entry.type === 'dir' && !entry.path.endsWith('/') ? `${entry.path}/` : entry.path;
  const { prefix, name } = splitPath(path);
  const mode = entry.type === 'symlink' ? DEFAULT_MODE.symlink : (entry.mode ?? DEFAULT_MODE[entry.type]);
  if ((mode & ~0o7777) !== 0) throw new RangeError(`tar: mode ${mode.toString(8)} of "${entry.path}" has bits besides permissions`);
  text(block, 0, 100, name, 'name');
  octal(block, 100, 8, mode, 'mode');
  octal(block, 108, 8, entry.uid ?? 0, 'uid');
  octal(block, 116, 8, entry.gid ?? 0, 'gid');
  octal(block, 124, 12, size, 'size');
  octal(block, 136, 12, mtime, 'mtime');
  block.write(TYPE_FLAG[entry.type], 156, 1, 'ascii');
  if (entry.type === 'symlink') {
    if (entry.target === '' || entry.target.includes('\0')) throw new RangeError(`tar: the link "${entry.path}" has no valid target`);
    text(block, 157, 100, entry.target, 'link target');
  }
  block.write('ustar\x0000', 257, 8, 'ascii');
  text(block, 345, 155, prefix, 'path prefix');
  // The checksum is summed with its own field read as eight spaces.
  block.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return block;
}

/**
 * The archive of `entries`, in their order (put a folder before what it
 * holds). `mtime` is in seconds since the epoch; it defaults to 0 so that
 * archives are reproducible.
 */
export function tarArchive(entries: readonly TarEntry[], options: { mtime?: number } = {}): Buffer {
  const mtime = options.mtime ?? 0;
  const seen = new Set<string>();
  const chunks: Buffer[] = [];
  for (const entry of entries) {
    const key = entry.path.replace(/\/$/, '');
    if (seen.has(key)) throw new RangeError(`tar: "${key}" is in the archive twice`);
    seen.add(key);
    const content = entry.type === 'file' ? entry.content : undefined;
    chunks.push(header(entry, content?.length ?? 0, mtime));
    if (content && content.length > 0) {
      chunks.push(Buffer.from(content.buffer, content.byteOffset, content.length));
      const padding = (BLOCK - (content.length % BLOCK)) % BLOCK;
      if (padding > 0) chunks.push(Buffer.alloc(padding));
    }
  }
  // Two zero blocks end the archive.
  chunks.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(chunks);
}
