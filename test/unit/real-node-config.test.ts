/**
 * The real node's files and the readers of host state that decide what it
 * takes and what `down` removes, without a machine to change: which subnet
 * is free, what containerd, the kubelet and kube-proxy are told, which
 * mounts are the node's and in what order they go, and which iptables
 * rules are the node's and which are someone else's.
 */
import { describe, expect, it } from 'vitest';
import {
  cniConflist,
  containerdConfig,
  corednsPod,
  corefile,
  hostNames,
  isRealNodeComponent,
  kubeletConfig,
  kubeProxyConfig,
  NODE_ADD_ON_USERS,
  nodeIp,
  nodeLayout,
  REAL_NODE_TAINT,
} from '../../cluster/src/local/real-node-config.ts';
import {
  cgroupsReadOnly,
  chooseSubnet,
  firewallSets,
  iptablesCleanup,
  mountsUnder,
  podFirewallScript,
  podFirewallScript6,
  routeDestinations,
  shimSocketPath,
} from '../../cluster/src/local/real-node-host-state.ts';

const layout = nodeLayout('/repo/.cluster/rn');
const settings = {
  subnet: '10.88.3.0/24',
  kubeletPort: 40001,
  kubeletHealthzPort: 40002,
  proxyMetricsPort: 40003,
  proxyHealthzPort: 40004,
};

describe("the real node's subnet", () => {
  const ipRoute = [
    'default via 192.0.2.1 dev eth0',
    '10.88.0.0/23 dev wg0 proto kernel scope link src 10.88.0.5',
    '192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.2',
    'local 127.0.0.0/8 dev lo table local proto kernel scope host src 127.0.0.1',
    'broadcast 192.0.2.255 dev eth0 table local proto kernel scope link src 192.0.2.2',
  ].join('\n');

  it('reads the destinations of every route but the default one', () => {
    expect(routeDestinations(ipRoute)).toEqual(['10.88.0.0/23', '192.0.2.0/24', '127.0.0.0/8', '192.0.2.255']);
  });

  it('takes the first /24 that no route overlaps, and keeps the one chosen before while it is free', () => {
    const routes = routeDestinations(ipRoute);
    expect(chooseSubnet(routes)).toBe('10.88.2.0/24');
    expect(chooseSubnet(routes, '10.88.7.0/24')).toBe('10.88.7.0/24');
    expect(chooseSubnet(routes, '10.88.1.0/24'), 'taken since').toBe('10.88.2.0/24');
    expect(chooseSubnet(['10.88.0.0/16'])).toBe('10.89.0.0/24');
    expect(chooseSubnet(['10.0.0.0/8'])).toBeUndefined();
    expect(chooseSubnet([])).toBe('10.88.0.0/24');
  });

  it("gives the node the subnet's first address", () => {
    expect(nodeIp('10.88.3.0/24')).toBe('10.88.3.1');
  });
});

describe("the real node's names on the host", () => {
  it('are per cluster, and the bridge name fits the kernel (15 characters)', () => {
    const a = hostNames('cdl');
    const b = hostNames('a-very-long-cluster-name-of-32ch');
    expect(a.bridge).not.toBe(hostNames('cdl-test').bridge);
    expect(b.bridge.length).toBeLessThanOrEqual(15);
    expect(a).toMatchObject({ network: 'cdl-cdl', cgroupRoot: '/cdl-cdl' });
  });

  it('knows its own processes among the cluster components', () => {
    expect(['containerd', 'kubelet', 'kube-proxy'].every(isRealNodeComponent)).toBe(true);
    expect(isRealNodeComponent('kube-apiserver')).toBe(false);
  });

  it('names the shim socket as containerd 1.6 does, in its fixed folder', () => {
    const path = shimSocketPath(layout.containerd.socket, 'k8s.io', 'abc');
    expect(path).toMatch(/^\/run\/containerd\/s\/[0-9a-f]{64}$/);
    expect(shimSocketPath(layout.containerd.socket, 'k8s.io', 'abd')).not.toBe(path);
  });
});

describe("containerd's configuration", () => {
  const config = containerdConfig(layout);

  it("keeps every path and socket in the cluster's folder, with no debug or metrics listener", () => {
    expect(config).toMatch(/^version = 2\n/);
    expect(config).toContain('root = "/repo/.cluster/rn/node/containerd/root"');
    expect(config).toContain('state = "/repo/.cluster/rn/node/containerd/state"');
    expect(config).toContain('[grpc]\n  address = "/repo/.cluster/rn/node/containerd/containerd.sock"');
    expect(config).toContain('[ttrpc]\n  address = "/repo/.cluster/rn/node/containerd/containerd.sock.ttrpc"');
    expect(config).toContain('[metrics]\n  address = ""');
    expect(config).toContain('[debug]\n  address = ""');
    expect(config).toContain('Root = "/repo/.cluster/rn/node/containerd/state/runc"');
    expect(config).toContain('netns_mounts_under_state_dir = true');
    const paths = [...config.matchAll(/"(\/[^"]*)"/g)].map((m) => m[1] ?? '');
    expect(paths.filter((p) => !p.startsWith('/repo/.cluster/rn/node/') && p !== '/usr/lib/cni')).toEqual([]);
  });

  it('runs our pause image, cgroupfs, and never asks for a lower OOM score than its own', () => {
    expect(config).toContain('sandbox_image = "localhost/cdl/pause:1"');
    expect(config).toContain('restrict_oom_score_adj = true');
    expect(config).toContain('SystemdCgroup = false');
    expect(config).toContain('bin_dir = "/usr/lib/cni"');
    expect(config).toContain('conf_dir = "/repo/.cluster/rn/node/cni/net.d"');
  });
});

describe("the pods' network", () => {
  it("is a bridge of the cluster's own, with host-local addresses kept in the node's folder", () => {
    const conflist = JSON.parse(cniConflist('rn', layout, '10.88.3.0/24'));
    expect(conflist.name).toBe('cdl-rn');
    const [bridge, loopback] = conflist.plugins;
    expect(bridge).toMatchObject({ type: 'bridge', bridge: hostNames('rn').bridge, isGateway: true, ipMasq: true });
    expect(bridge.ipam).toMatchObject({
      type: 'host-local',
      dataDir: '/repo/.cluster/rn/node/cni/ipam',
      ranges: [[{ subnet: '10.88.3.0/24', gateway: '10.88.3.1' }]],
    });
    expect(loopback).toEqual({ type: 'loopback' });
  });
});

describe("the kubelet's configuration", () => {
  const config = JSON.parse(
    kubeletConfig({
      clusterName: 'rn',
      layout,
      settings,
      clientCaFile: '/ca.crt',
      tlsCertFile: '/serving.crt',
      tlsPrivateKeyFile: '/serving.key',
      clusterDns: '10.0.0.10',
    }),
  );

  it('serves only authenticated, authorised requests, on the bridge address and its own ports', () => {
    expect(config).toMatchObject({
      kind: 'KubeletConfiguration',
      address: '10.88.3.1',
      port: 40001,
      readOnlyPort: 0,
      healthzBindAddress: '127.0.0.1',
      healthzPort: 40002,
      authentication: { anonymous: { enabled: false }, webhook: { enabled: true }, x509: { clientCAFile: '/ca.crt' } },
      authorization: { mode: 'Webhook' },
      tlsCertFile: '/serving.crt',
    });
  });

  it('registers tainted, in a cgroup root of its own, with limits on pids and no image garbage collection', () => {
    expect(config.registerWithTaints).toEqual([REAL_NODE_TAINT]);
    expect(config).toMatchObject({
      cgroupDriver: 'cgroupfs',
      cgroupRoot: '/cdl-rn',
      cgroupsPerQOS: true,
      failCgroupV1: false,
      podPidsLimit: 1024,
      imageGCHighThresholdPercent: 100,
      containerRuntimeEndpoint: 'unix:///repo/.cluster/rn/node/containerd/containerd.sock',
      podLogsDir: '/repo/.cluster/rn/node/kubelet/pod-logs',
      volumePluginDir: '/repo/.cluster/rn/node/kubelet/root/volume-plugins',
    });
    expect(Object.values(config.evictionHard)).toEqual(['1%', '1%', '1%', '1%']);
  });

  it("gives pods the cluster DNS Service as their nameserver, in the cluster's domain", () => {
    expect(config).toMatchObject({ clusterDNS: ['10.0.0.10'], clusterDomain: 'cluster.local' });
  });
});

describe("CoreDNS's Corefile and pod", () => {
  const text = corefile();
  const pod = JSON.parse(corednsPod(layout));

  it("answers for the cluster's names from the API server, in its own identity, from a pod selected as kube-dns", () => {
    expect(text).toMatch(/kubernetes cluster\.local in-addr\.arpa ip6\.arpa \{\n\s+kubeconfig \/etc\/coredns\/kubeconfig cdl\n/);
    expect(NODE_ADD_ON_USERS.coredns.rules.flatMap((r) => r.verbs)).not.toContain('get');
    expect(pod.metadata).toEqual({ name: 'coredns', namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' } });
    expect(pod.spec.volumes).toEqual([{ name: 'config', hostPath: { path: '/repo/.cluster/rn/node/coredns', type: 'Directory' } }]);
    expect(pod.spec.containers[0].volumeMounts).toEqual([{ name: 'config', mountPath: '/etc/coredns', readOnly: true }]);
    expect(pod.spec.containers[0].securityContext).toMatchObject({
      capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] },
      readOnlyRootFilesystem: true,
    });
  });

  it('serves DNS and readiness in its own pod only, and sends nothing outside the cluster', () => {
    expect(text).toMatch(/^\.:53 \{/);
    expect(text).toContain('ready :8181');
    expect(pod.spec.hostNetwork).toBeUndefined();
    for (const plugin of ['forward', 'health', 'prometheus', 'pprof', 'debug']) {
      expect(text, plugin).not.toMatch(new RegExp(`^\\s*${plugin}\\b`, 'm'));
    }
  });
});

describe("kube-proxy's configuration", () => {
  it("serves NodePorts on the bridge only and leaves the host's sysctls alone", () => {
    const config = JSON.parse(kubeProxyConfig(layout, settings));
    expect(config).toMatchObject({
      kind: 'KubeProxyConfiguration',
      mode: 'iptables',
      hostnameOverride: 'cdl-real-node',
      clusterCIDR: '10.88.3.0/24',
      nodePortAddresses: ['10.88.3.1/32'],
      metricsBindAddress: '127.0.0.1:40003',
      healthzBindAddress: '127.0.0.1:40004',
      iptables: { localhostNodePorts: false },
      conntrack: { maxPerCore: 0, min: 0, tcpEstablishedTimeout: '0s', tcpCloseWaitTimeout: '0s' },
    });
  });
});

describe("the node's mounts", () => {
  const mountinfo = [
    '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw',
    '100 22 0:50 / /repo/.cluster/rn/node/kubelet/root/pods/u1/volumes/kubernetes.io~projected/kube-api-access-x rw - tmpfs tmpfs rw',
    '101 22 0:51 / /repo/.cluster/rn/node/containerd/state/io.containerd.runtime.v2.task/k8s.io/abc/rootfs rw - overlay overlay rw',
    '102 22 0:4 net:[4026532] /repo/.cluster/rn/node/containerd/state/netns/cni-1 rw - nsfs nsfs rw',
    '103 22 0:52 / /repo/.cluster/rn/node2/other rw - tmpfs tmpfs rw',
    '104 22 0:53 / /repo/.cluster/rn/node/with\\040space rw - tmpfs tmpfs rw',
  ].join('\n');

  it("are those under the node's folder, deepest first, with escaped names read back", () => {
    expect(mountsUnder(mountinfo, ['/repo/.cluster/rn/node'])).toEqual([
      '/repo/.cluster/rn/node/kubelet/root/pods/u1/volumes/kubernetes.io~projected/kube-api-access-x',
      '/repo/.cluster/rn/node/containerd/state/io.containerd.runtime.v2.task/k8s.io/abc/rootfs',
      '/repo/.cluster/rn/node/containerd/state/netns/cni-1',
      '/repo/.cluster/rn/node/with space',
    ]);
    expect(mountsUnder(mountinfo, ['/elsewhere'])).toEqual([]);
  });
});

describe('the cgroups', () => {
  it('are unusable only when every hierarchy is mounted read-only, as in an unprivileged container', () => {
    const v1 = (mode: string) =>
      [
        `30 25 0:26 / /sys/fs/cgroup/memory ${mode},nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup ${mode},memory`,
        `31 25 0:27 / /sys/fs/cgroup/pids ${mode},nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup ${mode},pids`,
      ].join('\n');
    expect(cgroupsReadOnly(v1('rw'))).toBe(false);
    expect(cgroupsReadOnly(v1('ro'))).toBe(true);
    expect(cgroupsReadOnly('35 30 0:30 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 ro')).toBe(true);
    expect(cgroupsReadOnly('22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw')).toBe(false);
  });
});

describe("the node's iptables rules", () => {
  const save = [
    '# Generated by iptables-save',
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':FORWARD ACCEPT [0:0]',
    ':DOCKER - [0:0]',
    ':KUBE-FIREWALL - [0:0]',
    ':KUBE-FORWARD - [0:0]',
    '-A INPUT -j KUBE-FIREWALL',
    '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
    '-A FORWARD -o docker0 -j DOCKER',
    '-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -j DROP',
    'COMMIT',
    '*nat',
    ':POSTROUTING ACCEPT [0:0]',
    ':CNI-aaa - [0:0]',
    ':CNI-bbb - [0:0]',
    '-A POSTROUTING -s 10.88.0.2/32 -m comment --comment "name: \\"cdl-rn\\" id: \\"1\\"" -j CNI-aaa',
    '-A POSTROUTING -s 10.22.0.2/32 -m comment --comment "name: \\"podman\\" id: \\"2\\"" -j CNI-bbb',
    '-A CNI-aaa -d 10.88.0.0/24 -m comment --comment "name: \\"cdl-rn\\" id: \\"1\\"" -j ACCEPT',
    '-A CNI-bbb -d 10.22.0.0/24 -m comment --comment "name: \\"podman\\" id: \\"2\\"" -j ACCEPT',
    'COMMIT',
  ].join('\n');

  it("removes the bridge plugin's rules marked with the network's name, and the KUBE chains when asked", () => {
    const scripts = iptablesCleanup(save, { network: 'cdl-rn', kubeChains: true });
    expect(scripts).toEqual([
      {
        table: 'filter',
        script: [
          '*filter',
          '-D INPUT -j KUBE-FIREWALL',
          '-D FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
          '-F KUBE-FIREWALL',
          '-F KUBE-FORWARD',
          '-X KUBE-FIREWALL',
          '-X KUBE-FORWARD',
          'COMMIT',
          '',
        ].join('\n'),
      },
      {
        table: 'nat',
        script: [
          '*nat',
          '-D POSTROUTING -s 10.88.0.2/32 -m comment --comment "name: \\"cdl-rn\\" id: \\"1\\"" -j CNI-aaa',
          '-F CNI-aaa',
          '-X CNI-aaa',
          'COMMIT',
          '',
        ].join('\n'),
      },
    ]);
  });

  it("leaves the KUBE chains while another kubelet runs, and never touches another network's or Docker's", () => {
    const scripts = iptablesCleanup(save, { network: 'cdl-rn', kubeChains: false });
    expect(scripts.map((s) => s.table)).toEqual(['nat']);
    const all = iptablesCleanup(save, { network: 'cdl-rn', kubeChains: true })
      .map((s) => s.script)
      .join('');
    expect(all).not.toMatch(/DOCKER|podman|CNI-bbb/);
  });

  it("keeps pods inside the cluster, and goes with the node's other rules", () => {
    const script = podFirewallScript({
      network: 'cdl-rn',
      bridge: 'cdl1234abcd',
      nodeIp: '10.88.3.1',
      apiServerPort: 32764,
      apiService: { ip: '10.0.0.1', port: 443 },
    });
    const all = script.trim().split('\n');
    const lines = all.slice(0, all.indexOf('*nat'));
    expect(lines[0]).toBe('*mangle');
    // To the machine: the API server (led to 127.0.0.1), answers, nothing else.
    const toHost = lines.filter((l) => l.startsWith('-A CDL-IN-cdl1234abcd '));
    expect(toHost.map((l) => l.replace('-A CDL-IN-cdl1234abcd ', ''))).toEqual([
      '-m conntrack --ctstate ESTABLISHED,RELATED -j RETURN',
      '-d 127.0.0.1/32 -p tcp -m tcp --dport 32764 -j RETURN',
      '-j DROP',
    ]);
    expect(all.slice(all.indexOf('*nat'))).toEqual([
      '*nat',
      expect.stringMatching(
        /^-A PREROUTING -i cdl1234abcd -d 10\.88\.3\.1\/32 -p tcp -m tcp --dport 32764 -m comment --comment "name: \\"cdl-rn\\" [^"]*" -j DNAT --to-destination 127\.0\.0\.1:32764$/,
      ),
      // The kubernetes Service's address, for in-cluster clients, to the same place.
      expect.stringMatching(
        /^-A PREROUTING -i cdl1234abcd -d 10\.0\.0\.1\/32 -p tcp -m tcp --dport 443 -m comment --comment "name: \\"cdl-rn\\" [^"]*" -j DNAT --to-destination 127\.0\.0\.1:32764$/,
      ),
      'COMMIT',
    ]);
    // Through the machine: only back onto the bridge.
    expect(lines.filter((l) => l.startsWith('-A CDL-FWD-cdl1234abcd ')).at(-1)).toBe('-A CDL-FWD-cdl1234abcd -j DROP');
    expect(lines).toContain('-A CDL-FWD-cdl1234abcd -o cdl1234abcd -j RETURN');
    // As iptables-save shows it once applied: the cleanup removes both jumps and both chains.
    const saved = ['*mangle', ':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ...lines.slice(1)].join('\n');
    const [cleanup] = iptablesCleanup(saved, { network: 'cdl-rn', kubeChains: false });
    expect(cleanup?.script.split('\n')).toEqual([
      '*mangle',
      expect.stringMatching(/^-D INPUT -i cdl1234abcd -m comment --comment "name: \\"cdl-rn\\" .*" -j CDL-IN-cdl1234abcd$/),
      expect.stringMatching(/^-D FORWARD -i cdl1234abcd -m comment --comment "name: \\"cdl-rn\\" .*" -j CDL-FWD-cdl1234abcd$/),
      '-F CDL-FWD-cdl1234abcd',
      '-F CDL-IN-cdl1234abcd',
      '-X CDL-FWD-cdl1234abcd',
      '-X CDL-IN-cdl1234abcd',
      'COMMIT',
      '',
    ]);
    expect(iptablesCleanup(saved, { network: 'cdl-other', kubeChains: true })).toEqual([]);
  });

  it('drops IPv6 on the bridge, marked so that the cleanup removes it', () => {
    const script = podFirewallScript6({ network: 'cdl-rn', bridge: 'cdl1234abcd' });
    const lines = script.trim().split('\n');
    expect(lines).toEqual([
      '*mangle',
      expect.stringMatching(/^-A FORWARD -i cdl1234abcd -m comment --comment "name: \\"cdl-rn\\" [^"]*" -j DROP$/),
      expect.stringMatching(/^-A INPUT -i cdl1234abcd -m comment --comment "name: \\"cdl-rn\\" [^"]*" -j DROP$/),
      'COMMIT',
    ]);
    const saved = ['*mangle', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ...lines.slice(1)].join('\n');
    const [cleanup] = iptablesCleanup(saved, { network: 'cdl-rn', kubeChains: false });
    expect(cleanup?.script.split('\n').filter((l) => l.startsWith('-D '))).toHaveLength(2);
  });

  it("destroys the firewall's sets of pods, and no one else's", () => {
    const sets = [
      'KUBE-SRC-ABCDEF2345GHIJKL',
      'inet6:KUBE-DST-ABCDEF2345GHIJKL',
      'KUBE-CLUSTER-IP',
      'cali40all-ipam-pools',
      'KUBE-SRC-x y',
    ];
    expect(firewallSets(sets.join('\n'))).toEqual(['KUBE-SRC-ABCDEF2345GHIJKL', 'inet6:KUBE-DST-ABCDEF2345GHIJKL']);
  });

  it('has nothing to do on clean tables', () => {
    expect(iptablesCleanup('*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n', { network: 'cdl-rn', kubeChains: true })).toEqual([]);
  });
});
