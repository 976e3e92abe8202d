/**
 * Where each of the local provider's binaries is published, and where its
 * checksum is: the official release servers of each project, for the
 * machine's OS and architecture.
 *
 * | bundle | binary | checksum |
 * |---|---|---|
 * | Kubernetes | `dl.k8s.io/release/<v>/bin/<os>/<arch>/<name>` | `<name>.sha256` beside it |
 * | etcd | `github.com/etcd-io/etcd/releases/download/<v>/etcd-<v>-<os>-<arch>.tar.gz` (linux) or `.zip` | `SHA256SUMS` beside it |
 * | kwok | `github.com/kubernetes-sigs/kwok/releases/download/<v>/<name>-<os>-<arch>` | GitHub's digest of the asset, from `api.github.com/repos/kubernetes-sigs/kwok/releases/tags/<v>` (kwok publishes no checksum file) |
 * | CoreDNS | `github.com/coredns/coredns/releases/download/<v>/coredns_<v without v>_<os>_<arch>.tgz` | `<archive>.sha256` beside it |
 * | Helm | `get.helm.sh/helm-<v>-<os>-<arch>.tar.gz` | `<archive>.sha256sum` beside it |
 * | kube-router (Linux only) | `github.com/cloudnativelabs/kube-router/releases/download/<v>/kube-router_<v without v>_linux_<arch>.tar.gz` | `kube-router_<v without v>_checksums.txt` beside it |
 *
 * A mirror (CDL_BINARY_MIRROR) holds the same files under its base URL,
 * each official URL's host and path kept: `<mirror>/dl.k8s.io/release/…`.
 * `stageMirror` (mirror.ts) writes one from a machine's cache.
 */

export interface Platform {
  os: 'linux' | 'darwin';
  arch: 'amd64' | 'arm64';
}

/** The machine's platform as the release servers name it, or undefined where none publishes binaries for it. */
export function hostPlatform(platform: string = process.platform, arch: string = process.arch): Platform | undefined {
  const os = platform === 'linux' || platform === 'darwin' ? platform : undefined;
  const goArch = arch === 'x64' ? 'amd64' : arch === 'arm64' ? 'arm64' : undefined;
  return os && goArch ? { os, arch: goArch } : undefined;
}

/** How the expected SHA-256 of a download is published. */
export type ChecksumSource =
  /** A file whose first word is the hex digest (Kubernetes' `.sha256`). */
  | { kind: 'file'; url: string }
  /** Lines of `<hex>  <name>` (`SHA256SUMS`). */
  | { kind: 'sums'; url: string; name: string }
  /** GitHub's release API: the asset called `name` and its `digest` (`sha256:<hex>`). */
  | { kind: 'github'; url: string; name: string };

/** One binary of a bundle, as published. */
export interface ReleaseFile {
  /** The binary's name in the bundle (and the cache). */
  file: string;
  /** The official URL of what is downloaded: the binary itself, or an archive that holds it. */
  url: string;
  /** Where the download is an archive: the binary's path inside it. */
  member?: string;
  checksum: ChecksumSource;
}

export interface BundleRef {
  id: 'kubernetes' | 'kubernetes-node' | 'etcd' | 'kwok' | 'karpenter' | 'coredns' | 'kube-router' | 'helm';
  version: string;
  files: readonly string[];
}

/** The Kubernetes binaries published for every OS; the others (the control plane's) are published for Linux only. */
const KUBERNETES_ON_EVERY_OS = new Set(['kubectl']);

/**
 * Where each binary of `bundle` is published for `platform`, or a sentence
 * saying why it is not (then the binaries are built).
 */
export function releaseFiles(bundle: BundleRef, platform: Platform | undefined): ReleaseFile[] | string {
  if (!platform) return `no release is published for ${process.platform}/${process.arch}`;
  const { os, arch } = platform;
  const v = bundle.version;
  switch (bundle.id) {
    case 'kubernetes':
    case 'kubernetes-node': {
      const missing = bundle.files.filter((file) => os !== 'linux' && !KUBERNETES_ON_EVERY_OS.has(file));
      if (missing.length > 0) return `Kubernetes publishes ${missing.join(', ')} for Linux only`;
      return bundle.files.map((file) => {
        const url = `https://dl.k8s.io/release/${v}/bin/${os}/${arch}/${file}`;
        return { file, url, checksum: { kind: 'file', url: `${url}.sha256` } };
      });
    }
    case 'etcd': {
      const base = `https://github.com/etcd-io/etcd/releases/download/${v}`;
      const folder = `etcd-${v}-${os}-${arch}`;
      const archive = `${folder}${os === 'linux' ? '.tar.gz' : '.zip'}`;
      return bundle.files.map((file) => ({
        file,
        url: `${base}/${archive}`,
        member: `${folder}/${file}`,
        checksum: { kind: 'sums', url: `${base}/SHA256SUMS`, name: archive },
      }));
    }
    case 'karpenter':
      return 'Karpenter publishes its kwok provider as source only';
    case 'coredns': {
      const archive = `coredns_${v.replace(/^v/, '')}_${os}_${arch}.tgz`;
      const url = `https://github.com/coredns/coredns/releases/download/${v}/${archive}`;
      return bundle.files.map((file) => ({ file, url, member: file, checksum: { kind: 'file', url: `${url}.sha256` } }));
    }
    case 'kube-router': {
      if (os !== 'linux') return 'kube-router publishes Linux binaries only';
      const base = `https://github.com/cloudnativelabs/kube-router/releases/download/${v}`;
      const archive = `kube-router_${v.replace(/^v/, '')}_${os}_${arch}.tar.gz`;
      const sums = `${base}/kube-router_${v.replace(/^v/, '')}_checksums.txt`;
      return bundle.files.map((file) => ({
        file,
        url: `${base}/${archive}`,
        member: file,
        checksum: { kind: 'sums', url: sums, name: archive },
      }));
    }
    case 'helm': {
      const url = `https://get.helm.sh/helm-${v}-${os}-${arch}.tar.gz`;
      return bundle.files.map((file) => ({
        file,
        url,
        member: `${os}-${arch}/${file}`,
        checksum: { kind: 'file', url: `${url}.sha256sum` },
      }));
    }
    case 'kwok': {
      const api = `https://api.github.com/repos/kubernetes-sigs/kwok/releases/tags/${v}`;
      return bundle.files.map((file) => {
        const name = `${file}-${os}-${arch}`;
        return {
          file,
          url: `https://github.com/kubernetes-sigs/kwok/releases/download/${v}/${name}`,
          checksum: { kind: 'github', url: api, name },
        };
      });
    }
  }
}

/** An official URL as a mirror holds it: its host and path under the mirror's base. */
export function mirrored(url: string, mirror: string | undefined): string {
  if (!mirror) return url;
  const official = new URL(url);
  return `${mirror.replace(/\/+$/, '')}/${official.host}${official.pathname}`;
}
