/**
 * Downloading one published binary, checked before it is kept: the expected
 * SHA-256 is read from where the project publishes it (releases.ts), the
 * download is written to a file of its own beside the destination while it
 * is hashed, and only a download of the announced length whose digest
 * matches is renamed into place. A mismatch is refused and deleted; a
 * server that goes quiet for `idleMs` or closes early leaves nothing behind.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, mkdir, rename, rm } from 'node:fs/promises';
import { get as httpGet, type IncomingMessage } from 'node:http';
import { get as httpsGet } from 'node:https';
import { dirname, join } from 'node:path';
import { finished } from 'node:stream/promises';
import { z } from 'zod';
import { ClusterError } from '../errors.ts';
import { run, tail } from '../exec.ts';
import type { Log } from '../provider.ts';
import { type ChecksumSource, mirrored, type ReleaseFile } from './releases.ts';

export type DownloadFailure =
  /** No answer: no network, no such host, a refused connection, a timeout. */
  | 'unreachable'
  /** An answer other than 200 (a 404 for a release not published). */
  | 'refused'
  /** The download ended before its announced length, or went quiet. */
  | 'incomplete'
  /** It arrived whole and is not what the project published. */
  | 'checksum';

export class DownloadError extends ClusterError {
  readonly reason: DownloadFailure;

  constructor(reason: DownloadFailure, message: string, hint: string, options?: ErrorOptions) {
    super(message, hint, options);
    this.reason = reason;
  }
}

export interface DownloadOptions {
  /** CDL_BINARY_MIRROR: where to download from instead of the official servers. */
  mirror?: string;
  log: Log;
  /** A download that receives nothing for this long is given up. Default 30 s. */
  idleMs?: number;
  /** Bytes received so far of the total (when the server says it). */
  onBytes?: (received: number, total: number | undefined) => void;
}

const HINT = 'Check the network (or CDL_BINARY_MIRROR), or build the binaries instead with CDL_BINARIES=build.';
const DEFAULT_IDLE_MS = 30_000;

/** Redirects followed at most (GitHub's release assets redirect once, to their storage). */
const MAX_REDIRECTS = 5;

/** One GET, answered with its response (any status); rejects when no answer comes. */
function request(url: URL, signal: AbortSignal): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const send = url.protocol === 'https:' ? httpsGet : url.protocol === 'http:' ? httpGet : undefined;
    if (!send) {
      reject(new Error(`${url.protocol} is not a protocol to download from`));
      return;
    }
    send(url, { signal, headers: { 'user-agent': 'container-day-labs' } }, resolve).on('error', reject);
  });
}

/**
 * A GET that answered 200, with its failures said as DownloadErrors and a
 * timer that aborts it once nothing arrives for `idleMs`. Node's own HTTP
 * client, not fetch: fetch's crashes the whole process (an uncatchable
 * assertion in its HTTP/1 parser, undici#5360) when a server closes the
 * connection while a body waits for a slow disk, which is what a plain
 * static file server (`python3 -m http.server`) does with every file.
 */
async function get(url: string, idleMs: number): Promise<{ response: IncomingMessage; alive: () => void; done: () => void }> {
  const controller = new AbortController();
  let timer = setTimeout(() => controller.abort(), idleMs);
  const alive = () => {
    clearTimeout(timer);
    timer = setTimeout(() => controller.abort(), idleMs);
  };
  const done = () => clearTimeout(timer);
  let at = new URL(url);
  for (let redirects = 0; ; redirects++) {
    let response: IncomingMessage;
    try {
      response = await request(at, controller.signal);
    } catch (error) {
      done();
      const reason = controller.signal.aborted ? 'no answer' : error instanceof Error ? error.message : String(error);
      throw new DownloadError('unreachable', `could not reach ${at}: ${reason}`, HINT, { cause: error });
    }
    const status = response.statusCode ?? 0;
    const location = response.headers.location;
    if (status >= 300 && status < 400 && location && redirects < MAX_REDIRECTS) {
      response.resume();
      at = new URL(location, at);
      continue;
    }
    if (status !== 200) {
      done();
      response.resume();
      throw new DownloadError('refused', `${at} answered ${status} ${response.statusMessage ?? ''}`.trim(), HINT);
    }
    return { response, alive, done };
  }
}

async function getText(url: string, idleMs: number): Promise<string> {
  const { response, alive, done } = await get(url, idleMs);
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of response) {
      alive();
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks).toString('utf8');
  } catch (error) {
    throw new DownloadError('incomplete', `the download of ${url} broke off`, HINT, { cause: error });
  } finally {
    done();
  }
}

const HEX = /^[0-9a-f]{64}$/;
const GitHubReleaseSchema = z.object({ assets: z.array(z.object({ name: z.string(), digest: z.string().nullish() }).loose()) }).loose();

/** The published SHA-256 (hex) of a download. */
export async function publishedDigest(source: ChecksumSource, options: DownloadOptions): Promise<string> {
  const idleMs = options.idleMs ?? DEFAULT_IDLE_MS;
  const url = mirrored(source.url, options.mirror);
  const text = await getText(url, idleMs);
  let digest: string | undefined;
  if (source.kind === 'file') {
    digest = text.trim().split(/\s+/)[0];
  } else if (source.kind === 'sums') {
    for (const line of text.split('\n')) {
      const [hex, name] = line.trim().split(/\s+\*?/);
      if (name === source.name) digest = hex;
    }
  } else {
    const parsed = GitHubReleaseSchema.safeParse(JSON.parse(text.trim() || 'null'));
    const asset = parsed.success ? parsed.data.assets.find((a) => a.name === source.name) : undefined;
    digest = asset?.digest?.startsWith('sha256:') ? asset.digest.slice('sha256:'.length) : undefined;
  }
  digest = digest?.toLowerCase();
  if (!digest || !HEX.test(digest)) {
    throw new DownloadError('refused', `${url} does not give a SHA-256 for ${'name' in source ? source.name : source.url}`, HINT);
  }
  return digest;
}

/** Streams `url` into `file`, hashing it; checks the length the server announced. */
async function fetchToFile(url: string, file: string, options: DownloadOptions): Promise<{ size: number; sha256: string }> {
  const { response, alive, done } = await get(url, options.idleMs ?? DEFAULT_IDLE_MS);
  const announced = Number(response.headers['content-length'] ?? Number.NaN);
  const total = Number.isSafeInteger(announced) ? announced : undefined;
  const hash = createHash('sha256');
  const out = createWriteStream(file, { flags: 'wx', mode: 0o600 });
  // A write that fails (a full disk) is reported by `finished` below; one cut short by `destroy` is not an error.
  out.on('error', () => undefined);
  let size = 0;
  try {
    for await (const chunk of response as AsyncIterable<Buffer>) {
      alive();
      hash.update(chunk);
      size += chunk.length;
      if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', () => resolve()));
      options.onBytes?.(size, total);
    }
    out.end();
    await finished(out);
  } catch (error) {
    out.destroy();
    await finished(out).catch(() => undefined);
    throw new DownloadError('incomplete', `the download of ${url} broke off after ${size} bytes`, HINT, { cause: error });
  } finally {
    done();
  }
  if (total !== undefined && size !== total) {
    throw new DownloadError('incomplete', `the download of ${url} ended after ${size} of ${total} bytes`, HINT);
  }
  return { size, sha256: hash.digest('hex') };
}

/**
 * Downloads one published binary to `dest` (which must not exist yet),
 * checked against its published checksum; returns the SHA-256 of what was
 * downloaded. Nothing is left at `dest`, or beside it, when it fails.
 */
export async function downloadBinary(item: ReleaseFile, dest: string, options: DownloadOptions): Promise<string> {
  const expected = await publishedDigest(item.checksum, options);
  const url = mirrored(item.url, options.mirror);
  const scratch = join(dirname(dest), `.download-${randomBytes(4).toString('hex')}`);
  await mkdir(scratch, { recursive: true });
  try {
    const downloaded = join(scratch, 'download');
    const { sha256 } = await fetchToFile(url, downloaded, options);
    if (sha256 !== expected) {
      options.log(`  refused ${url}: its SHA-256 is ${sha256}, the published one ${expected}; deleted it.`);
      throw new DownloadError(
        'checksum',
        `${url} is not the published ${item.file}: its SHA-256 does not match (${sha256}, published ${expected}).`,
        'It was deleted. If this repeats, the server or something between is handing out altered files: use another network or mirror, or CDL_BINARIES=build.',
      );
    }
    let binary = downloaded;
    if (item.member) {
      const result = await run('tar', ['-xf', downloaded, '-C', scratch, item.member]);
      if (result.code !== 0) {
        throw new DownloadError('incomplete', `could not take ${item.member} out of ${url}:\n${tail(result.stderr)}`, HINT);
      }
      binary = join(scratch, item.member);
    }
    await chmod(binary, 0o755);
    await rename(binary, dest);
    return sha256;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
