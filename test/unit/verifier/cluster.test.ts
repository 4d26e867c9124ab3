import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ClusterDataError, daemonSetRollout, expectedIpsecKeys, parseAgentPods, parseCiliumConfig, parseNodes, parsePod, strictModeKeys,
} from '../../../verifier/cluster';
import { requireCiliumVersion as parseCiliumVersion } from '../../../encryption/ciliumVersion';

const v = (s: string) => parseCiliumVersion(s);
const cm = (data: Record<string, string>) => JSON.stringify({ data });
const ds = (status: Record<string, number>, generation = 2, strategy = 'RollingUpdate') =>
  JSON.stringify({ metadata: { name: 'cilium', generation }, spec: { updateStrategy: { type: strategy } }, status });

describe('DaemonSet rollout', () => {
  it('follows kubectl rollout status', () => {
    assert.match(daemonSetRollout(ds({ observedGeneration: 1, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3 })).message, /spec update to be observed/);
    const updating = daemonSetRollout(ds({ observedGeneration: 2, desiredNumberScheduled: 3, updatedNumberScheduled: 1, numberAvailable: 3 }));
    assert.deepEqual([updating.done, updating.message], [false, 'daemon set "cilium" rollout: 1 out of 3 new pods have been updated']);
    const avail = daemonSetRollout(ds({ observedGeneration: 2, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 2 }));
    assert.deepEqual([avail.done, avail.message], [false, 'daemon set "cilium" rollout: 2 of 3 updated pods are available']);
    assert.equal(daemonSetRollout(ds({ observedGeneration: 2, desiredNumberScheduled: 3, updatedNumberScheduled: 3, numberAvailable: 3 })).done, true);
    assert.equal(daemonSetRollout(ds({ observedGeneration: 2, desiredNumberScheduled: 3, updatedNumberScheduled: 0, numberAvailable: 3 }, 2, 'OnDelete')).done, true);
  });

  it('rejects what is not a DaemonSet', () => {
    assert.throws(() => daemonSetRollout('nope'), ClusterDataError);
    assert.throws(() => daemonSetRollout('{"status": {}}'), /DaemonSet: metadata/);
  });
});

describe('nodes and pods', () => {
  it('reads node addresses, pod CIDRs and the control-plane label', () => {
    const nodes = parseNodes(JSON.stringify({ items: [
      { metadata: { name: 'w1', labels: {} }, spec: { podCIDRs: ['10.0.1.0/24', 'fd10::/64'] }, status: { addresses: [{ type: 'InternalIP', address: '192.0.2.2' }, { type: 'Hostname', address: 'w1' }] } },
      { metadata: { name: 'cp', labels: { 'node-role.kubernetes.io/control-plane': '' } }, spec: { podCIDR: '10.0.0.0/24' }, status: {} },
    ] }));
    assert.deepEqual(nodes, [
      { name: 'cp', internalIPs: [], podCIDRs: ['10.0.0.0/24'], controlPlane: true },
      { name: 'w1', internalIPs: ['192.0.2.2'], podCIDRs: ['10.0.1.0/24', 'fd10::/64'], controlPlane: false },
    ]);
  });

  it('an agent is ready only when the cilium-agent container is', () => {
    const pods = parseAgentPods(JSON.stringify({ items: [
      { metadata: { name: 'cilium-b' }, spec: { nodeName: 'n2' }, status: { phase: 'Running', containerStatuses: [{ name: 'cilium-agent', ready: false }, { name: 'x', ready: true }] } },
      { metadata: { name: 'cilium-a', deletionTimestamp: '2026-01-01T00:00:00Z' }, spec: { nodeName: 'n1' }, status: { phase: 'Running', containerStatuses: [{ name: 'cilium-agent', ready: true }] } },
      { metadata: { name: 'cilium-c' }, spec: {}, status: { phase: 'Pending' } },
    ] }));
    assert.deepEqual(pods.map((p) => [p.name, p.node, p.agentReady, p.deleting]), [
      ['cilium-a', 'n1', true, true], ['cilium-b', 'n2', false, false], ['cilium-c', null, false, false],
    ]);
  });

  it('reads a test pod with its addresses of both families', () => {
    const p = parsePod(JSON.stringify({ metadata: { name: 'server' }, spec: { nodeName: 'w2' }, status: { phase: 'Running', podIPs: [{ ip: '10.0.2.7' }, { ip: 'fd10::7' }], containerStatuses: [{ name: 'server', ready: true }] } }));
    assert.deepEqual(p, { name: 'server', node: 'w2', phase: 'Running', ready: true, ips: ['10.0.2.7', 'fd10::7'] });
  });
});

describe('cilium-config', () => {
  it('applies Cilium defaults for absent keys and records only the keys read', () => {
    const c = parseCiliumConfig(cm({ 'enable-ipsec': 'true', 'cluster-name': 'x', 'kube-proxy-replacement': 'true' }), v('1.18.0'));
    assert.equal(c.ipv4, true);
    assert.equal(c.ipv6, false);
    assert.equal(c.routingMode, 'tunnel');
    assert.equal(c.tunnelProtocol, 'vxlan');
    assert.equal(c.tunnelPort, 8472);
    assert.equal(c.ipam, 'cluster-pool');
    assert.deepEqual(c.read, { 'enable-ipsec': 'true' });
  });

  it('Geneve defaults to 6081 and an explicit tunnel-port wins', () => {
    assert.equal(parseCiliumConfig(cm({ 'tunnel-protocol': 'geneve' }), v('1.17.0')).tunnelPort, 6081);
    assert.equal(parseCiliumConfig(cm({ 'tunnel-protocol': 'vxlan', 'tunnel-port': '4789' }), v('1.17.0')).tunnelPort, 4789);
  });

  it('strict mode keys per version', () => {
    assert.deepEqual(strictModeKeys(v('1.18.2')), ['enable-encryption-strict-mode']);
    assert.deepEqual(strictModeKeys(v('1.19.0')), ['enable-encryption-strict-mode-egress', 'enable-encryption-strict-mode']);
    assert.deepEqual(strictModeKeys(v('1.20.1')), ['enable-encryption-strict-mode-egress']);
    assert.equal(parseCiliumConfig(cm({ 'enable-encryption-strict-mode': 'true' }), v('1.19.1')).strictMode, true);
    assert.equal(parseCiliumConfig(cm({ 'enable-encryption-strict-mode': 'true' }), v('1.20.1')).strictMode, false);
    assert.equal(parseCiliumConfig(cm({ 'enable-encryption-strict-mode-egress': 'true' }), v('1.20.1')).strictMode, true);
  });

  it('refuses values it cannot interpret', () => {
    assert.throws(() => parseCiliumConfig(cm({ 'routing-mode': 'hybrid' }), v('1.18.0')), /routing-mode/);
    assert.throws(() => parseCiliumConfig(cm({ 'enable-ipv6': 'yes' }), v('1.18.0')), /enable-ipv6/);
    assert.throws(() => parseCiliumConfig(cm({ 'tunnel-port': '70000' }), v('1.18.0')), /tunnel-port/);
  });
});

describe('expected IPsec keys', () => {
  const cfg = (data: Record<string, string>, ver: string) => parseCiliumConfig(cm(data), v(ver));
  it('2 per remote node per family, doubled in tunnel mode from 1.18, +1 per remote for ENI/Azure before 1.18', () => {
    const table: Array<[Record<string, string>, string, number, number]> = [
      [{ 'routing-mode': 'native' }, '1.16.0', 3, 4],
      [{ 'routing-mode': 'tunnel' }, '1.17.0', 3, 4],
      [{ 'routing-mode': 'native', 'enable-ipv6': 'true' }, '1.17.0', 3, 8],
      [{ 'routing-mode': 'native', ipam: 'eni' }, '1.16.0', 3, 6],
      [{ 'routing-mode': 'tunnel' }, '1.18.0', 3, 8],
      [{ 'routing-mode': 'tunnel', 'enable-ipv6': 'true' }, '1.19.0', 2, 8],
      [{ 'routing-mode': 'native' }, '1.20.0', 5, 8],
      [{ 'routing-mode': 'native' }, '1.20.0', 1, 0],
    ];
    for (const [data, ver, nodes, keys] of table) {
      assert.equal(expectedIpsecKeys(cfg(data, ver), v(ver), nodes).steady, keys, `${JSON.stringify(data)} ${ver} ${nodes}`);
    }
  });
});
