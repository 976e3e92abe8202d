import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { inspectBundle } from '../../cluster/src/local/binaries.ts';

const bundle = { id: 'etcd' as const, version: 'v3.6.16', files: ['etcd'] };
let dir = '';

beforeEach(async () => {
  dir = join(await mkdtemp(join(tmpdir(), 'cdl-cache-')), 'etcd-v3.6.16');
  await mkdir(dir);
});
afterEach(async () => {
  await rm(join(dir, '..'), { recursive: true, force: true });
});

async function writeBundle(content: string, manifestSize = content.length, version = 'v3.6.16') {
  await writeFile(join(dir, 'etcd'), content);
  await chmod(join(dir, 'etcd'), 0o755);
  const manifest = {
    id: 'etcd',
    version,
    goVersion: 'go1.26.8',
    builtAt: '2026-11-24T00:00:00Z',
    buildSeconds: 30,
    files: { etcd: { size: manifestSize } },
  };
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
}

describe('inspectBundle', () => {
  it('accepts a complete bundle', async () => {
    await writeBundle('#!/bin/sh\n');
    expect(await inspectBundle(dir, bundle)).toBeUndefined();
  });

  it('says when nothing was built', async () => {
    expect(await inspectBundle(join(dir, 'absent'), bundle)).toBe('not built yet');
  });

  it('calls a folder without a manifest an interrupted build', async () => {
    await writeFile(join(dir, 'etcd'), 'x');
    expect(await inspectBundle(dir, bundle)).toMatch(/manifest .* missing or unreadable/);
  });

  it('notices a truncated binary', async () => {
    await writeBundle('#!/bin/sh\n', 4096);
    expect(await inspectBundle(dir, bundle)).toBe('etcd is 10 bytes, the manifest says 4096');
  });

  it('notices a bundle of another version', async () => {
    await writeBundle('#!/bin/sh\n', undefined, 'v3.5.0');
    expect(await inspectBundle(dir, bundle)).toMatch(/holds etcd v3.5.0/);
  });

  it('notices a binary that lost its execute bit', async () => {
    await writeBundle('#!/bin/sh\n');
    await chmod(join(dir, 'etcd'), 0o644);
    expect(await inspectBundle(dir, bundle)).toBe('etcd is not executable');
  });

  it('checks a data file (a manifest of CRDs) by size, not for an execute bit', async () => {
    await writeBundle('#!/bin/sh\n');
    await writeFile(join(dir, 'crds.yaml'), 'kind: CustomResourceDefinition\n');
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8'));
    manifest.files['crds.yaml'] = { size: 31 };
    await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
    const withData = { ...bundle, data: ['crds.yaml'] };
    expect(await inspectBundle(dir, withData)).toBeUndefined();
    await writeFile(join(dir, 'crds.yaml'), 'kind: Cust');
    expect(await inspectBundle(dir, withData)).toBe('crds.yaml is 10 bytes, the manifest says 31');
    await rm(join(dir, 'crds.yaml'));
    expect(await inspectBundle(dir, withData)).toBe('crds.yaml is missing');
  });
});
