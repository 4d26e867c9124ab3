import { randomBytes } from 'node:crypto';
import type { VerifierArgs } from './args';
import { judgeCapture, summarizeCapture, type ClassifyOptions, type WireVerdict } from './classify';
import { atLeast } from '../encryption/ciliumVersion';
import { ClusterDataError, parsePod, type CiliumConfig, type NodeInfo, type PodInfo } from './cluster';
import { parseIp } from './ip';
import { describeFailure, type Kubectl } from './kubectl';
import type { WireNodeResult, WireResult } from './report';

// The wire check, after Cilium's pod-to-pod-encryption tests: a client pod on node A talks to a
// server pod on node B while a host-network tcpdump on each node captures what leaves that
// node (-Q out: IPsec re-injects decrypted packets on the receiving NIC, so only egress proves
// anything). A ping between the two nodes carrying a marker is the positive control: node
// traffic is plaintext, so the capture must show it unless it is blind.

export const CONTROL_MARKER = Buffer.from('cilium-enc-probe', 'ascii');
export const SERVER_PORT = 8080;
const CAPTURE_SECONDS = 20;
const SNAPLEN = 512;
const LABEL = 'app.kubernetes.io/managed-by';
const LABEL_VALUE = 'cilium-encryption-verifier';

export interface WirePlan {
  namespace: string;
  client: NodeInfo;
  server: NodeInfo;
}

// Workers first: control-plane nodes opt out of WireGuard node encryption by default and may
// carry no workload traffic at all.
export function pickNodes(nodes: readonly NodeInfo[]): { client: NodeInfo; server: NodeInfo } | string {
  const usable = nodes.filter((n) => n.internalIPs.some((ip) => parseIp(ip)));
  const ordered = [...usable.filter((n) => !n.controlPlane), ...usable.filter((n) => n.controlPlane)];
  if (ordered.length < 2) {
    return `needs two nodes with a Cilium agent and an InternalIP address, found ${ordered.length}`;
  }
  return { client: ordered[0]!, server: ordered[1]! };
}

function pod(name: string, node: string, spec: Record<string, unknown>): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { [LABEL]: LABEL_VALUE, 'cilium-encryption-verifier/role': name } },
    spec: {
      nodeName: node,
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 0,
      automountServiceAccountToken: false,
      tolerations: [{ operator: 'Exists' }],
      ...spec,
    },
  };
}

export function wireManifests(plan: WirePlan, workloadImage: string, captureImage: string): Record<string, unknown> {
  const capture = (name: string, node: string): Record<string, unknown> =>
    pod(name, node, {
      hostNetwork: true,
      containers: [
        {
          name: 'capture',
          image: captureImage,
          command: ['sleep', '3600'],
          securityContext: { capabilities: { add: ['NET_RAW', 'NET_ADMIN'] } },
        },
      ],
    });
  return {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: {
          name: plan.namespace,
          labels: { [LABEL]: LABEL_VALUE, 'pod-security.kubernetes.io/enforce': 'privileged' },
        },
      },
      ...[
        pod('server', plan.server.name, {
          containers: [{ name: 'server', image: workloadImage, command: ['httpd', '-f', '-p', String(SERVER_PORT), '-h', '/etc'] }],
        }),
        pod('client', plan.client.name, { containers: [{ name: 'client', image: workloadImage, command: ['sleep', '3600'] }] }),
        capture('capture-client', plan.client.name),
        capture('capture-server', plan.server.name),
      ].map((p) => ({ ...p, metadata: { ...(p.metadata as object), namespace: plan.namespace } })),
    ],
  };
}

// tcpdump's filter: the node pair (ESP/WireGuard/overlay and the control ping) and the pod pair
// (plaintext in native routing), for every address family the nodes and pods have.
export function captureFilter(nodeA: readonly string[], nodeB: readonly string[], podA: readonly string[], podB: readonly string[]): string {
  const pairs: string[] = [];
  const family = (ip: string): number => parseIp(ip)?.length ?? 0;
  for (const [as, bs] of [[nodeA, nodeB], [podA, podB]] as const) {
    for (const a of as) for (const b of bs) if (family(a) === family(b)) pairs.push(`(host ${a} and host ${b})`);
  }
  return pairs.join(' or ');
}

export function parseRouteDevice(json: string): string | null {
  try {
    const routes = JSON.parse(json) as unknown;
    if (Array.isArray(routes) && routes.length > 0) {
      const dev = (routes[0] as { dev?: unknown }).dev;
      if (typeof dev === 'string' && /^[A-Za-z0-9_.@-]{1,15}$/.test(dev)) return dev;
    }
  } catch {
    // reported by the caller as "no device"
  }
  return null;
}

export function combineWire(nodes: readonly WireNodeResult[]): WireVerdict {
  if (nodes.some((n) => n.verdict === 'plaintext')) return 'plaintext';
  if (nodes.every((n) => n.verdict === 'encrypted')) return 'encrypted';
  return 'inconclusive';
}

export interface WireDeps {
  kubectl: Kubectl;
  sleep(ms: number): Promise<void>;
  now(): number;
  log(line: string): void;
  randomSuffix?: () => string;
}

export interface WireInput {
  args: VerifierArgs;
  cfg: CiliumConfig;
  nodes: readonly NodeInfo[];
  // CiliumInternalIPs per node when readable: IPsec may use them as ESP endpoints.
  internalIps: ReadonlyMap<string, string[]>;
  deadline: number;
}

export async function runWireCheck(input: WireInput, deps: WireDeps): Promise<WireResult> {
  const picked = pickNodes(input.nodes);
  if (typeof picked === 'string') return { verdict: 'error', reason: picked, nodes: [] };
  const suffix = deps.randomSuffix ? deps.randomSuffix() : randomBytes(3).toString('hex');
  const plan: WirePlan = { namespace: `cilium-encryption-verify-${suffix}`, ...picked };
  const { kubectl, log } = deps;
  const ns = ['-n', plan.namespace];
  log(`wire check: client on ${plan.client.name}, server on ${plan.server.name}, namespace ${plan.namespace}`);
  const applied = await kubectl.run(['apply', '-f', '-', '-o', 'name'], {
    input: JSON.stringify(wireManifests(plan, input.args.workloadImage, input.args.captureImage)),
  });
  try {
    if (applied.code !== 0) return { verdict: 'error', reason: `cannot create the test pods: ${describeFailure(applied)}`, nodes: [] };
    const pods = await waitForPods(plan.namespace, ['server', 'client', 'capture-client', 'capture-server'], input.deadline, deps);
    if (typeof pods === 'string') return { verdict: 'error', reason: pods, nodes: [] };
    const server = pods.get('server')!;
    const client = pods.get('client')!;

    const sides = [
      { role: 'client' as const, node: plan.client, peer: plan.server, pod: 'capture-client' },
      { role: 'server' as const, node: plan.server, peer: plan.client, pod: 'capture-server' },
    ];
    const nodeAddrs = (n: NodeInfo): string[] => [...n.internalIPs, ...(input.internalIps.get(n.name) ?? [])];
    const filter = captureFilter(nodeAddrs(plan.client), nodeAddrs(plan.server), client.ips, server.ips);

    const devices: string[] = [];
    for (const s of sides) {
      const peerIp = s.peer.internalIPs[0]!;
      const r = await kubectl.run([...ns, 'exec', s.pod, '--', 'ip', '-j', 'route', 'get', peerIp], { timeoutMs: 30_000 });
      const dev = r.code === 0 ? parseRouteDevice(r.stdout.toString('utf8')) : null;
      if (!dev) return { verdict: 'error', reason: `cannot find the egress interface on ${s.node.name}: ${r.code === 0 ? 'no device in "ip -j route get" output' : describeFailure(r)}`, nodes: [] };
      devices.push(dev);
    }

    const captures = sides.map((s, i) =>
      kubectl.start(
        [...ns, 'exec', s.pod, '--', 'timeout', '-s', 'INT', String(CAPTURE_SECONDS), 'tcpdump', '-i', devices[i]!, '-Q', 'out', '-U', '-n', '-s', String(SNAPLEN), '-w', '-', filter],
        { timeoutMs: (CAPTURE_SECONDS + 30) * 1000 },
      ),
    );
    const listening = await Promise.all(captures.map((c) => c.waitForStderr(/listening on/, 15_000)));
    const notListening = listening.flatMap((ok, i) => (ok ? [] : [sides[i]!.node.name]));
    if (notListening.length > 0) {
      captures.forEach((c) => c.kill());
      const why = await Promise.all(captures.map((c) => c.done));
      return { verdict: 'error', reason: `tcpdump did not start on ${notListening.join(', ')}: ${why.map(describeFailure).join('; ')}`, nodes: [] };
    }
    log('wire check: captures running, sending test traffic');

    const trafficErrors: string[] = [];
    for (const ip of server.ips) {
      const host = ip.includes(':') ? `[${ip}]` : ip;
      for (let i = 0; i < 3; i++) {
        const r = await kubectl.run([...ns, 'exec', 'client', '--', 'wget', '-q', '-O', '/dev/null', '-T', '5', `http://${host}:${SERVER_PORT}/hostname`], { timeoutMs: 30_000 });
        if (r.code !== 0) trafficErrors.push(`client to server ${ip}: ${describeFailure(r)}`);
      }
    }
    for (const s of sides) {
      const r = await kubectl.run([...ns, 'exec', s.pod, '--', 'ping', '-c', '3', '-i', '0.2', '-W', '2', '-p', CONTROL_MARKER.toString('hex'), s.peer.internalIPs[0]!], { timeoutMs: 30_000 });
      if (r.code !== 0) log(`wire check: control ping from ${s.node.name} failed (${describeFailure(r)})`);
    }
    const results = await Promise.all(captures.map((c) => c.done));
    if (trafficErrors.length > 0) {
      return { verdict: 'error', reason: `test traffic between the pods failed: ${trafficErrors.slice(0, 3).join('; ')}`, nodes: [] };
    }

    const nodeEncryption = input.args.mode === 'wireguard' && (input.args.nodeEncryption ?? input.cfg.nodeEncryption) && !plan.client.controlPlane && !plan.server.controlPlane;
    const opts: ClassifyOptions = {
      mode: input.args.mode,
      tunnelPorts: new Map<number, 'vxlan' | 'geneve'>([[8472, 'vxlan'], [4789, 'vxlan'], [6081, 'geneve'], [input.cfg.tunnelPort, input.cfg.tunnelProtocol]]),
      overlayMustBeEncrypted: input.args.mode === 'wireguard' || atLeast(input.args.ciliumVersion, 18),
      hostTrafficMustBeEncrypted: nodeEncryption,
      podAddresses: [...client.ips, ...server.ips],
      podCidrs: input.nodes.flatMap((n) => n.podCIDRs),
      nodeAddresses: [...nodeAddrs(plan.client), ...nodeAddrs(plan.server)],
      controlMarker: nodeEncryption ? null : CONTROL_MARKER,
    };
    const nodes: WireNodeResult[] = sides.map((s, i) => {
      const r = results[i]!;
      // `timeout` exits 124 when it stopped tcpdump, which is the normal end of a capture.
      if (r.code !== 0 && r.code !== 124) {
        return { node: s.node.name, role: s.role, interface: devices[i]!, verdict: 'error', reasons: [`tcpdump failed: ${describeFailure(r)}`], counts: null };
      }
      try {
        const summary = summarizeCapture(new Uint8Array(r.stdout), opts);
        const judged = judgeCapture(summary, input.args.mode, !nodeEncryption);
        const { samples: _s, problems: _p, espSpis, ...counts } = summary;
        return {
          node: s.node.name, role: s.role, interface: devices[i]!, verdict: judged.verdict, reasons: judged.reasons,
          counts: { ...counts, espSpis: espSpis.map((x) => `0x${x.toString(16)}`) },
        };
      } catch (e) {
        return { node: s.node.name, role: s.role, interface: devices[i]!, verdict: 'error', reasons: [`capture unreadable: ${(e as Error).message}`], counts: null };
      }
    });
    const errored = nodes.filter((n) => n.verdict === 'error');
    const verdict: WireVerdict = errored.length > 0 && !nodes.some((n) => n.verdict === 'plaintext') ? 'inconclusive' : combineWire(nodes);
    return {
      verdict,
      positiveControl: nodeEncryption
        ? 'not applicable: WireGuard node encryption encrypts node-to-node traffic, so no plaintext probe exists; ESP/WireGuard evidence is required instead'
        : 'plaintext ping between the two nodes carrying the marker "cilium-enc-probe" must be captured on each node',
      nodes,
      reasons: [],
    };
  } catch (e) {
    if (e instanceof ClusterDataError) return { verdict: 'error', reason: e.message, nodes: [] };
    throw e;
  } finally {
    const del = await kubectl.run(['delete', 'namespace', plan.namespace, '--ignore-not-found', '--wait=false']);
    log(del.code === 0 ? `wire check: deleted namespace ${plan.namespace}` : `wire check: could not delete namespace ${plan.namespace}: ${describeFailure(del)}`);
  }
}

async function waitForPods(namespace: string, names: readonly string[], deadline: number, deps: WireDeps): Promise<Map<string, PodInfo> | string> {
  const limit = Math.min(deadline, deps.now() + 180_000);
  let last = 'no pod status read yet';
  for (;;) {
    const ready = new Map<string, PodInfo>();
    const waiting: string[] = [];
    for (const name of names) {
      const r = await deps.kubectl.run(['-n', namespace, 'get', 'pod', name, '-o', 'json']);
      if (r.code !== 0) {
        waiting.push(`${name} (${describeFailure(r)})`);
        continue;
      }
      const p = parsePod(r.stdout.toString('utf8'));
      if (p.phase === 'Failed' || p.phase === 'Succeeded') return `test pod ${name} ended (${p.phase}) before the check`;
      if (p.ready && p.ips.length > 0) ready.set(name, p);
      else waiting.push(`${name} (${p.phase})`);
    }
    if (waiting.length === 0) return ready;
    last = waiting.join(', ');
    if (deps.now() >= limit) return `test pods not ready in time: ${last}`;
    deps.log(`wire check: waiting for test pods: ${last}`);
    await deps.sleep(2000);
  }
}
