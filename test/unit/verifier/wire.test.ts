import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseVerifierArgs } from '../../../verifier/args';
import { parseCiliumConfig, type NodeInfo } from '../../../verifier/cluster';
import type { BackgroundProcess, Kubectl, KubectlResult } from '../../../verifier/kubectl';
import { captureFilter, CONTROL_MARKER, parseRouteDevice, pickNodes, runWireCheck, wireManifests } from '../../../verifier/wire';
import { concat, esp, ethernet, fill, icmpEcho, ipv4, pcap, tcp } from './packets';

const node = (name: string, ip: string | null, controlPlane = false): NodeInfo => ({ name, internalIPs: ip ? [ip] : [], podCIDRs: [], controlPlane });

describe('wire check planning', () => {
  it('picks two workers with addresses, control plane only when needed', () => {
    assert.deepEqual(pickNodes([node('cp', '192.0.2.1', true), node('w1', '192.0.2.2'), node('w2', '192.0.2.3')]), { client: node('w1', '192.0.2.2'), server: node('w2', '192.0.2.3') });
    assert.deepEqual(pickNodes([node('cp', '192.0.2.1', true), node('w1', '192.0.2.2')]), { client: node('w1', '192.0.2.2'), server: node('cp', '192.0.2.1', true) });
    assert.equal(pickNodes([node('w1', '192.0.2.2'), node('w2', null)]), 'needs two nodes with a Cilium agent and an InternalIP address, found 1');
  });

  it('filters on the node pair and the pod pair, per address family', () => {
    assert.equal(
      captureFilter(['192.0.2.2', 'fd00::2'], ['192.0.2.3', 'fd00::3'], ['10.0.1.5'], ['10.0.2.6']),
      '(host 192.0.2.2 and host 192.0.2.3) or (host fd00::2 and host fd00::3) or (host 10.0.1.5 and host 10.0.2.6)',
    );
  });

  it('reads the device of `ip -j route get`, refusing odd names', () => {
    assert.equal(parseRouteDevice('[{"dst":"192.0.2.3","gateway":"192.0.2.1","dev":"ens5","prefsrc":"192.0.2.2","flags":[],"uid":0,"cache":[]}]'), 'ens5');
    assert.equal(parseRouteDevice('[{"dst":"192.0.2.3","dev":"eth0; rm -rf /"}]'), null);
    assert.equal(parseRouteDevice('[]'), null);
    assert.equal(parseRouteDevice('RTNETLINK answers: Network is unreachable'), null);
  });

  it('test pods: pinned to their nodes, tolerate taints, capture pods on the host network with only the capabilities tcpdump needs', () => {
    const m = wireManifests({ namespace: 'cilium-encryption-verify-abc123', client: node('w1', '192.0.2.2'), server: node('w2', '192.0.2.3') }, 'img/w:1', 'img/c:1') as {
      items: Array<{ kind: string; metadata: { name: string; namespace?: string; labels: Record<string, string> }; spec?: Record<string, unknown> }>;
    };
    assert.deepEqual(m.items.map((i) => `${i.kind}/${i.metadata.name}`), ['Namespace/cilium-encryption-verify-abc123', 'Pod/server', 'Pod/client', 'Pod/capture-client', 'Pod/capture-server']);
    const pods = m.items.slice(1);
    assert.ok(pods.every((p) => p.metadata.namespace === 'cilium-encryption-verify-abc123'));
    assert.deepEqual(pods.map((p) => p.spec!.nodeName), ['w2', 'w1', 'w1', 'w2']);
    assert.deepEqual(pods.map((p) => Boolean(p.spec!.hostNetwork)), [false, false, true, true]);
    const cap = (pods[2]!.spec!.containers as Array<{ image: string; securityContext: unknown }>)[0]!;
    assert.equal(cap.image, 'img/c:1');
    assert.deepEqual(cap.securityContext, { capabilities: { add: ['NET_RAW', 'NET_ADMIN'] } });
    assert.ok(pods.every((p) => p.spec!.automountServiceAccountToken === false));
  });
});

type Handler = (args: readonly string[], input: string) => Partial<KubectlResult> | undefined;

class ScriptedKubectl implements Kubectl {
  readonly calls: string[][] = [];
  constructor(private readonly handler: Handler) {}
  private answer(args: readonly string[], input: string): KubectlResult {
    this.calls.push([...args]);
    return { code: 0, stdout: Buffer.alloc(0), stderr: '', timedOut: false, ...(this.handler(args, input) ?? {}) };
  }
  async run(args: readonly string[], opts: { input?: string } = {}): Promise<KubectlResult> {
    return this.answer(args, opts.input ?? '');
  }
  start(args: readonly string[]): BackgroundProcess {
    const r = this.answer(args, '');
    return { done: Promise.resolve(r), kill: () => undefined, waitForStderr: async (p) => p.test(r.stderr) };
  }
}

const NODES = [node('w1', '192.0.2.2'), node('w2', '192.0.2.3')];
const podJson = (name: string, ip: string, ready = true) =>
  Buffer.from(JSON.stringify({ metadata: { name }, spec: { nodeName: 'w1' }, status: { phase: ready ? 'Running' : 'Pending', podIPs: [{ ip }], containerStatuses: [{ name: 'c', ready }] } }));
const control = ethernet(ipv4('192.0.2.2', '192.0.2.3', 1, icmpEcho(concat(fill(0, 16), CONTROL_MARKER))));
const encrypted = pcap([ethernet(ipv4('192.0.2.2', '192.0.2.3', 50, esp(3, 1))), control]);

function cluster(over: Handler = () => undefined, capture: Uint8Array = encrypted): Handler {
  return (args, input) => {
    const r = over(args, input);
    if (r) return r;
    if (args.includes('get') && args.includes('pod')) return { stdout: podJson(args[4]!, args[4] === 'server' ? '10.0.2.6' : '10.0.1.5') };
    if (args.includes('ip')) return { stdout: Buffer.from('[{"dst":"192.0.2.3","dev":"eth0"}]') };
    if (args.includes('tcpdump')) return { stdout: Buffer.from(capture), stderr: 'tcpdump: listening on eth0, link-type EN10MB (Ethernet)\n', code: 124 };
    return undefined;
  };
}

async function check(handler: Handler, mode: 'ipsec' | 'wireguard' = 'ipsec', now = () => 0) {
  const k = new ScriptedKubectl(handler);
  const args = parseVerifierArgs(['--mode', mode, '--namespace', 'kube-system', '--cilium-version', '1.18.1']);
  const cfg = parseCiliumConfig(JSON.stringify({ data: { 'routing-mode': 'tunnel' } }), args.ciliumVersion);
  const log: string[] = [];
  const result = await runWireCheck(
    { args, cfg, nodes: NODES, internalIps: new Map(), deadline: 60_000 },
    { kubectl: k, sleep: async () => undefined, now, log: (l) => log.push(l), randomSuffix: () => 'c0ffee' },
  );
  return { result, calls: k.calls, log };
}

const deleted = (calls: string[][]) => calls.some((c) => c.join(' ') === 'delete namespace cilium-encryption-verify-c0ffee --ignore-not-found --wait=false');

describe('wire check run', () => {
  it('encrypted captures on both nodes verify; the namespace is deleted', async () => {
    const { result, calls } = await check(cluster());
    assert.equal(result.verdict, 'encrypted');
    assert.ok('nodes' in result && result.nodes.every((n) => n.counts?.esp === 1 && n.counts.control === 1 && n.interface === 'eth0'));
    assert.ok(deleted(calls));
    const wget = calls.filter((c) => c.includes('wget'));
    assert.equal(wget.length, 3);
    assert.ok(wget[0]!.includes('http://10.0.2.6:8080/hostname'));
    assert.ok(calls.some((c) => c.includes('ping') && c.includes(CONTROL_MARKER.toString('hex'))));
  });

  it('a plaintext capture fails the wire check', async () => {
    const leak = pcap([ethernet(ipv4('192.0.2.2', '192.0.2.3', 50, esp(3, 1))), control, ethernet(ipv4('10.0.1.5', '10.0.2.6', 6, tcp(40000, 8080)))]);
    const { result } = await check(cluster(undefined, leak));
    assert.equal(result.verdict, 'plaintext');
  });

  it('every failure is an error of the wire check, never a pass, and still cleans up', async () => {
    const failures: Array<[Handler, RegExp]> = [
      [(a) => (a[0] === 'apply' ? { code: 1, stderr: 'forbidden' } : undefined), /cannot create the test pods: kubectl exited 1: forbidden/],
      [(a) => (a.includes('ip') ? { code: 1, stderr: 'ip: not found' } : undefined), /cannot find the egress interface on w1/],
      [(a) => (a.includes('tcpdump') ? { code: 1, stderr: 'tcpdump: eth0: You don\'t have permission to capture' } : undefined), /tcpdump did not start on w1, w2/],
      [(a) => (a.includes('wget') ? { code: 1, stderr: 'wget: download timed out' } : undefined), /test traffic between the pods failed/],
    ];
    for (const [h, re] of failures) {
      const { result, calls } = await check(cluster(h));
      assert.equal(result.verdict, 'error');
      assert.match('reason' in result ? result.reason : '', re);
      assert.ok(deleted(calls), String(re));
    }
  });

  it('pods that never become ready end the wait at the deadline', async () => {
    let t = 0;
    const { result, calls } = await check(cluster((a) => (a.includes('pod') && a.includes('get') ? { stdout: podJson('x', '10.0.0.1', false) } : undefined)), 'ipsec', () => (t += 10_000));
    assert.equal(result.verdict, 'error');
    assert.match('reason' in result ? result.reason : '', /test pods not ready in time: server \(Pending\)/);
    assert.ok(deleted(calls));
  });

  it('an unreadable pod object is an error of the wire check, and still cleans up', async () => {
    const { result, calls } = await check(cluster((a) => (a.includes('pod') && a.includes('get') ? { stdout: Buffer.from('<html>proxy error</html>') } : undefined)));
    assert.equal(result.verdict, 'error');
    assert.match('reason' in result ? result.reason : '', /pod is not JSON/);
    assert.ok(deleted(calls));
  });

  it('an unreadable capture makes that node inconclusive, not encrypted', async () => {
    const { result } = await check(cluster(undefined, new TextEncoder().encode('tcpdump: syntax error\n')));
    assert.equal(result.verdict, 'inconclusive');
    assert.ok('nodes' in result && /capture unreadable: not a pcap/.test(result.nodes[0]!.reasons[0]!));
  });
});
