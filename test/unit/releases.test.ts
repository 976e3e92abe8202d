import { describe, expect, it } from 'vitest';
import { hostPlatform, mirrored, releaseFiles } from '../../cluster/src/local/releases.ts';

const kubernetes = { id: 'kubernetes' as const, version: 'v1.36.3', files: ['kube-apiserver', 'kubectl'] };

describe('where the binaries are published', () => {
  it('names the platform as the release servers do, and none where they publish nothing', () => {
    expect(hostPlatform('linux', 'x64')).toEqual({ os: 'linux', arch: 'amd64' });
    expect(hostPlatform('darwin', 'arm64')).toEqual({ os: 'darwin', arch: 'arm64' });
    expect(hostPlatform('win32', 'x64')).toBeUndefined();
    expect(hostPlatform('linux', 'riscv64')).toBeUndefined();
  });

  it('gives each Kubernetes binary its .sha256 beside it, and says the control plane is Linux only', () => {
    expect(releaseFiles(kubernetes, { os: 'linux', arch: 'arm64' })).toEqual([
      {
        file: 'kube-apiserver',
        url: 'https://dl.k8s.io/release/v1.36.3/bin/linux/arm64/kube-apiserver',
        checksum: { kind: 'file', url: 'https://dl.k8s.io/release/v1.36.3/bin/linux/arm64/kube-apiserver.sha256' },
      },
      {
        file: 'kubectl',
        url: 'https://dl.k8s.io/release/v1.36.3/bin/linux/arm64/kubectl',
        checksum: { kind: 'file', url: 'https://dl.k8s.io/release/v1.36.3/bin/linux/arm64/kubectl.sha256' },
      },
    ]);
    expect(releaseFiles(kubernetes, { os: 'darwin', arch: 'arm64' })).toBe('Kubernetes publishes kube-apiserver for Linux only');
    expect(releaseFiles(kubernetes, undefined)).toMatch(/no release is published for/);
  });

  it("takes etcd out of its archive, checked against SHA256SUMS, and kwok's against GitHub's digest", () => {
    expect(releaseFiles({ id: 'etcd', version: 'v3.6.16', files: ['etcd'] }, { os: 'linux', arch: 'amd64' })).toEqual([
      {
        file: 'etcd',
        url: 'https://github.com/etcd-io/etcd/releases/download/v3.6.16/etcd-v3.6.16-linux-amd64.tar.gz',
        member: 'etcd-v3.6.16-linux-amd64/etcd',
        checksum: {
          kind: 'sums',
          url: 'https://github.com/etcd-io/etcd/releases/download/v3.6.16/SHA256SUMS',
          name: 'etcd-v3.6.16-linux-amd64.tar.gz',
        },
      },
    ]);
    expect(releaseFiles({ id: 'kwok', version: 'v0.8.0', files: ['kwokctl'] }, { os: 'darwin', arch: 'amd64' })).toEqual([
      {
        file: 'kwokctl',
        url: 'https://github.com/kubernetes-sigs/kwok/releases/download/v0.8.0/kwokctl-darwin-amd64',
        checksum: {
          kind: 'github',
          url: 'https://api.github.com/repos/kubernetes-sigs/kwok/releases/tags/v0.8.0',
          name: 'kwokctl-darwin-amd64',
        },
      },
    ]);
  });

  it("takes the real node's CoreDNS and kube-router out of their archives, each checked as its project publishes", () => {
    expect(releaseFiles({ id: 'coredns', version: 'v1.15.0', files: ['coredns'] }, { os: 'linux', arch: 'arm64' })).toEqual([
      {
        file: 'coredns',
        url: 'https://github.com/coredns/coredns/releases/download/v1.15.0/coredns_1.15.0_linux_arm64.tgz',
        member: 'coredns',
        checksum: {
          kind: 'file',
          url: 'https://github.com/coredns/coredns/releases/download/v1.15.0/coredns_1.15.0_linux_arm64.tgz.sha256',
        },
      },
    ]);
    const router = { id: 'kube-router', version: 'v2.1.0', files: ['kube-router'] } as const;
    expect(releaseFiles(router, { os: 'linux', arch: 'amd64' })).toEqual([
      {
        file: 'kube-router',
        url: 'https://github.com/cloudnativelabs/kube-router/releases/download/v2.1.0/kube-router_2.1.0_linux_amd64.tar.gz',
        member: 'kube-router',
        checksum: {
          kind: 'sums',
          url: 'https://github.com/cloudnativelabs/kube-router/releases/download/v2.1.0/kube-router_2.1.0_checksums.txt',
          name: 'kube-router_2.1.0_linux_amd64.tar.gz',
        },
      },
    ]);
    expect(releaseFiles(router, { os: 'darwin', arch: 'arm64' })).toBe('kube-router publishes Linux binaries only');
    const helm = { id: 'helm', version: 'v4.3.2', files: ['helm'] } as const;
    expect(releaseFiles(helm, { os: 'darwin', arch: 'arm64' })).toEqual([
      {
        file: 'helm',
        url: 'https://get.helm.sh/helm-v4.3.2-darwin-arm64.tar.gz',
        member: 'darwin-arm64/helm',
        checksum: { kind: 'file', url: 'https://get.helm.sh/helm-v4.3.2-darwin-arm64.tar.gz.sha256sum' },
      },
    ]);
  });

  it('finds an official URL in a mirror under its host and path', () => {
    const url = 'https://dl.k8s.io/release/v1.36.3/bin/linux/amd64/kubectl';
    expect(mirrored(url, undefined)).toBe(url);
    expect(mirrored(url, 'http://10.0.0.5:8080/cdl/')).toBe('http://10.0.0.5:8080/cdl/dl.k8s.io/release/v1.36.3/bin/linux/amd64/kubectl');
  });
});
