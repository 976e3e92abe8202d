import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cacheKey, IMAGE_REFS, imageArchive, isStaticElf, type RunConfig } from '../../cluster/src/local/images.ts';
import { tarArchive } from '../../cluster/src/local/tar.ts';

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cdl-image-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

const config: RunConfig = { User: '65532:65532', Entrypoint: ['/app'], Env: ['PATH=/bin'], ExposedPorts: { '8080/tcp': {} } };

describe('imageArchive', () => {
  it("writes Docker's archive format with digests that agree", async () => {
    const layer = tarArchive([{ type: 'file', path: 'app', mode: 0o755, content: Buffer.from('#!/bin/sh\n') }]);
    const made = imageArchive('localhost/cdl/app:1', layer, config, 'amd64', 'a test');
    const archive = join(dir, 'app.tar');
    await writeFile(archive, made.archive);
    const out = await mkdtemp(join(dir, 'out-'));
    execFileSync('tar', ['-xf', archive, '-C', out]);

    const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8'));
    expect(manifest).toHaveLength(1);
    expect(manifest[0].RepoTags).toEqual(['localhost/cdl/app:1']);
    // The config file is named by its own digest, which is the image ID.
    const configBytes = await readFile(join(out, manifest[0].Config));
    expect(manifest[0].Config).toBe(`${sha256(configBytes)}.json`);
    expect(made.id).toBe(`sha256:${sha256(configBytes)}`);
    // The layer is the tar given, and its digest is the config's diff_id.
    const layerBytes = await readFile(join(out, manifest[0].Layers[0]));
    expect(layerBytes.equals(layer)).toBe(true);
    const imageConfig = JSON.parse(configBytes.toString('utf8'));
    expect(imageConfig.rootfs).toEqual({ type: 'layers', diff_ids: [`sha256:${sha256(layerBytes)}`] });
    expect(made.diffId).toBe(imageConfig.rootfs.diff_ids[0]);
    expect(manifest[0].Layers[0]).toBe(`${sha256(layerBytes)}/layer.tar`);
    expect(imageConfig).toMatchObject({ architecture: 'amd64', os: 'linux', config });
  });

  it('gives the same image ID for the same layer and config', () => {
    const layer = tarArchive([{ type: 'dir', path: 'tmp', mode: 0o1777 }]);
    const a = imageArchive('localhost/cdl/x:1', layer, config, 'arm64', 'a test');
    const b = imageArchive('localhost/cdl/x:1', layer, config, 'arm64', 'a test');
    expect(a.archive.equals(b.archive)).toBe(true);
    expect(imageArchive('localhost/cdl/x:1', layer, { ...config, User: '0:0' }, 'arm64', 'a test').id).not.toBe(a.id);
  });
});

describe('cacheKey', () => {
  const source = { id: 'pause' as const, images: [{ name: 'pause' as const, config }] };
  const inputs = { go: 'go1.26.8', sources: { 'main.go': 'abc' } };

  it('changes with the sources, the Go version, the architecture and how the image runs, and only with them', () => {
    const key = cacheKey(source, 'amd64', inputs);
    expect(key).toMatch(/^[0-9a-f]{16}$/);
    expect(cacheKey(source, 'amd64', { ...inputs })).toBe(key);
    expect(cacheKey(source, 'arm64', inputs)).not.toBe(key);
    expect(cacheKey(source, 'amd64', { ...inputs, go: 'go1.25.0' })).not.toBe(key);
    expect(cacheKey(source, 'amd64', { ...inputs, sources: { 'main.go': 'abd' } })).not.toBe(key);
    expect(cacheKey({ ...source, images: [{ name: 'pause', config: { ...config, User: '0:0' } }] }, 'amd64', inputs)).not.toBe(key);
  });

  it('names honest, registry-free references', () => {
    for (const ref of Object.values(IMAGE_REFS)) expect(ref).toMatch(/^localhost\/cdl\/[a-z-]+:\d+(\.\d+)*$/);
  });
});

describe('isStaticElf', () => {
  it('tells a static binary from one that needs the dynamic loader', async () => {
    // Node itself is dynamically linked on every Linux it ships for.
    const node = await open(process.execPath);
    const { buffer, bytesRead } = await node.read(Buffer.alloc(65536), 0, 65536, 0);
    await node.close();
    expect(isStaticElf(buffer.subarray(0, bytesRead))).toBe(false);
    expect(isStaticElf(Buffer.from('#!/bin/sh\n'))).toBe(false);
  });
});
