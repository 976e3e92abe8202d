import { describe, expect, it } from 'vitest';
import { localReplacements, renderGoMod, renderToolsFile, stagingVersion } from '../../cluster/src/local/gomod.ts';

const kubernetesGoMod = `module k8s.io/kubernetes

go 1.25.0

require (
	k8s.io/api v0.0.0
	k8s.io/apiextensions-apiserver v0.0.0
	k8s.io/client-go v0.0.0
	github.com/foo/bar v1.2.3 // indirect
	github.com/pinned/thing v0.9.0
)

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/apiextensions-apiserver => ./staging/src/k8s.io/apiextensions-apiserver
	k8s.io/client-go => ./staging/src/k8s.io/client-go // keep in step
	github.com/pinned/thing => github.com/pinned/thing v1.0.0
)
`;

const etcdGoMod = `module go.etcd.io/etcd/server/v3

require go.etcd.io/etcd/api/v3 v3.6.16

require (
	go.etcd.io/etcd/client/v3 v3.6.16
	go.etcd.io/etcd/pkg/v3 v3.6.16
)

replace go.etcd.io/etcd/api/v3 => ../api
replace go.etcd.io/etcd/client/v3 v3.6.0 => ../client/v3

replace (
	go.etcd.io/etcd/pkg/v3 => ../pkg
)

// Bad imports are sometimes causing attempts to pull that code.
replace go.etcd.io/etcd => ./FORBIDDEN_DEPENDENCY
`;

describe('localReplacements', () => {
  it('finds every module replaced by a local folder, in a block', () => {
    expect(localReplacements(kubernetesGoMod)).toEqual(['k8s.io/api', 'k8s.io/apiextensions-apiserver', 'k8s.io/client-go']);
  });

  it('finds single-line replaces with ../ paths, with or without a version on the left', () => {
    expect(localReplacements(etcdGoMod)).toEqual(['go.etcd.io/etcd/api/v3', 'go.etcd.io/etcd/client/v3', 'go.etcd.io/etcd/pkg/v3']);
  });

  it('leaves out local replaces of modules that are not required (guards, not siblings)', () => {
    expect(localReplacements(etcdGoMod)).not.toContain('go.etcd.io/etcd');
  });

  it('ignores replacements that point at another module version', () => {
    expect(localReplacements(kubernetesGoMod)).not.toContain('github.com/pinned/thing');
  });
});

describe('renderGoMod', () => {
  it('requires the module and pins each sibling to its published version', () => {
    const text = renderGoMod({
      module: 'example.local/build',
      require: { path: 'k8s.io/kubernetes', version: 'v1.36.3' },
      replace: [{ path: 'k8s.io/api', version: 'v0.36.3' }],
    });
    expect(text).toContain('require k8s.io/kubernetes v1.36.3');
    expect(text).toContain('\tk8s.io/api => k8s.io/api v0.36.3');
  });
});

describe('renderToolsFile', () => {
  it('is behind a build tag so that main packages can be imported', () => {
    const text = renderToolsFile(['k8s.io/kubernetes/cmd/kubectl']);
    expect(text.startsWith('//go:build tools\n')).toBe(true);
    expect(text).toContain('_ "k8s.io/kubernetes/cmd/kubectl"');
  });
});

describe('stagingVersion', () => {
  it('maps v1.X.Y to v0.X.Y', () => {
    expect(stagingVersion('v1.36.3')).toBe('v0.36.3');
  });
  it('refuses anything else', () => {
    expect(() => stagingVersion('1.36')).toThrow(/not a Kubernetes release version/);
  });
});
