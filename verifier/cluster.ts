import { z } from 'zod';
import { atLeast, type CiliumVersion } from '../encryption/ciliumVersion';

// Pure readers of the Kubernetes objects the verifier looks at (all fetched as `-o json`):
// nodes, the agent DaemonSet, the agent pods and the `cilium-config` ConfigMap. Never Secrets.

export class ClusterDataError extends Error {
  override name = 'ClusterDataError';
}

const CONTROL_PLANE_LABEL = 'node-role.kubernetes.io/control-plane';

export interface NodeInfo {
  name: string;
  internalIPs: string[];
  podCIDRs: string[];
  controlPlane: boolean;
}

export interface AgentPod {
  name: string;
  node: string | null;
  phase: string;
  agentReady: boolean;
  deleting: boolean;
}

function parseList<T extends z.ZodType>(kind: string, json: string, item: T): z.infer<T>[] {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (e) {
    throw new ClusterDataError(`${kind} list is not JSON: ${(e as Error).message}`);
  }
  const r = z.object({ items: z.array(item) }).safeParse(doc);
  if (!r.success) throw new ClusterDataError(`${kind} list: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return r.data.items;
}

const metaSchema = z.object({
  name: z.string().min(1),
  labels: z.record(z.string(), z.string()).nullish(),
  deletionTimestamp: z.string().nullish(),
});

const nodeSchema = z.object({
  metadata: metaSchema,
  spec: z.object({ podCIDRs: z.array(z.string()).nullish(), podCIDR: z.string().nullish() }).nullish(),
  status: z.object({ addresses: z.array(z.object({ type: z.string(), address: z.string() })).nullish() }).nullish(),
});

export function parseNodes(json: string): NodeInfo[] {
  return parseList('node', json, nodeSchema)
    .map((n) => ({
      name: n.metadata.name,
      internalIPs: (n.status?.addresses ?? []).filter((a) => a.type === 'InternalIP').map((a) => a.address),
      podCIDRs: n.spec?.podCIDRs ?? (n.spec?.podCIDR ? [n.spec.podCIDR] : []),
      controlPlane: Object.prototype.hasOwnProperty.call(n.metadata.labels ?? {}, CONTROL_PLANE_LABEL),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

const podSchema = z.object({
  metadata: metaSchema,
  spec: z.object({ nodeName: z.string().nullish() }),
  status: z
    .object({
      phase: z.string().nullish(),
      podIP: z.string().nullish(),
      podIPs: z.array(z.object({ ip: z.string() })).nullish(),
      containerStatuses: z.array(z.object({ name: z.string(), ready: z.boolean() })).nullish(),
    })
    .nullish(),
});

export const AGENT_CONTAINER = 'cilium-agent';

export function parseAgentPods(json: string): AgentPod[] {
  return parseList('pod', json, podSchema)
    .map((p) => ({
      name: p.metadata.name,
      node: p.spec.nodeName ?? null,
      phase: p.status?.phase ?? 'Unknown',
      agentReady: (p.status?.containerStatuses ?? []).some((c) => c.name === AGENT_CONTAINER && c.ready),
      deleting: Boolean(p.metadata.deletionTimestamp),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

export interface PodInfo {
  name: string;
  node: string | null;
  phase: string;
  ready: boolean;
  ips: string[];
}

export function parsePod(json: string): PodInfo {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (e) {
    throw new ClusterDataError(`pod is not JSON: ${(e as Error).message}`);
  }
  const r = podSchema.safeParse(doc);
  if (!r.success) throw new ClusterDataError(`pod: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const p = r.data;
  const ips = p.status?.podIPs?.map((x) => x.ip) ?? (p.status?.podIP ? [p.status.podIP] : []);
  const statuses = p.status?.containerStatuses ?? [];
  return {
    name: p.metadata.name,
    node: p.spec.nodeName ?? null,
    phase: p.status?.phase ?? 'Unknown',
    ready: statuses.length > 0 && statuses.every((c) => c.ready),
    ips,
  };
}

export interface RolloutState {
  done: boolean;
  desired: number;
  message: string;
}

const dsSchema = z.object({
  metadata: z.object({ name: z.string(), generation: z.number().int().nullish() }),
  spec: z.object({ updateStrategy: z.object({ type: z.string().nullish() }).nullish() }).nullish(),
  status: z
    .object({
      observedGeneration: z.number().int().nullish(),
      desiredNumberScheduled: z.number().int().nullish(),
      updatedNumberScheduled: z.number().int().nullish(),
      numberAvailable: z.number().int().nullish(),
    })
    .nullish(),
});

// Same conditions as `kubectl rollout status daemonset`, so "done" means what operators expect.
export function daemonSetRollout(json: string): RolloutState {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (e) {
    throw new ClusterDataError(`DaemonSet is not JSON: ${(e as Error).message}`);
  }
  const r = dsSchema.safeParse(doc);
  if (!r.success) throw new ClusterDataError(`DaemonSet: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const ds = r.data;
  const s = ds.status ?? {};
  const desired = s.desiredNumberScheduled ?? 0;
  const updated = s.updatedNumberScheduled ?? 0;
  const available = s.numberAvailable ?? 0;
  const name = ds.metadata.name;
  if ((ds.metadata.generation ?? 0) > (s.observedGeneration ?? 0)) {
    return { done: false, desired, message: `waiting for daemon set "${name}" spec update to be observed` };
  }
  const rolling = (ds.spec?.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate';
  if (rolling && updated < desired) {
    return { done: false, desired, message: `daemon set "${name}" rollout: ${updated} out of ${desired} new pods have been updated` };
  }
  if (available < desired) {
    return { done: false, desired, message: `daemon set "${name}" rollout: ${available} of ${desired} updated pods are available` };
  }
  return { done: true, desired, message: `daemon set "${name}" successfully rolled out (${desired} pods)` };
}

export type RoutingMode = 'tunnel' | 'native';

export interface CiliumConfig {
  ipv4: boolean;
  ipv6: boolean;
  routingMode: RoutingMode;
  tunnelProtocol: 'vxlan' | 'geneve';
  tunnelPort: number;
  ipam: string;
  ipsecEnabled: boolean;
  wireguardEnabled: boolean;
  nodeEncryption: boolean;
  strictMode: boolean;
  strictModeKeys: string[];
  // Exactly the keys read, as found; cilium-config carries no secret (the IPsec key is a Secret).
  read: Record<string, string>;
}

// Strict mode moved to `*-egress` keys in 1.19 (old keys deprecated) and the old keys are gone in 1.20.
export function strictModeKeys(v: CiliumVersion): string[] {
  if (atLeast(v, 20)) return ['enable-encryption-strict-mode-egress'];
  if (atLeast(v, 19)) return ['enable-encryption-strict-mode-egress', 'enable-encryption-strict-mode'];
  return ['enable-encryption-strict-mode'];
}

export function configKeysRead(v: CiliumVersion): string[] {
  return [
    'enable-ipv4', 'enable-ipv6', 'routing-mode', 'tunnel-protocol', 'tunnel-port', 'ipam',
    'enable-ipsec', 'enable-wireguard', 'encrypt-node', ...strictModeKeys(v),
  ];
}

function flag(data: Record<string, string>, key: string, dflt: boolean): boolean {
  const v = data[key];
  if (v === undefined || v === '') return dflt;
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new ClusterDataError(`cilium-config key ${key} is neither "true" nor "false": ${JSON.stringify(v)}`);
}

export function parseCiliumConfig(json: string, v: CiliumVersion): CiliumConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (e) {
    throw new ClusterDataError(`ConfigMap is not JSON: ${(e as Error).message}`);
  }
  const r = z.object({ data: z.record(z.string(), z.string()).nullish() }).safeParse(doc);
  if (!r.success) throw new ClusterDataError('ConfigMap cilium-config has no readable data');
  const data = r.data.data ?? {};
  const read: Record<string, string> = {};
  for (const k of configKeysRead(v)) if (data[k] !== undefined) read[k] = data[k];

  const routing = data['routing-mode'] ?? 'tunnel';
  if (routing !== 'tunnel' && routing !== 'native') {
    throw new ClusterDataError(`cilium-config routing-mode is ${JSON.stringify(routing)}, expected tunnel or native`);
  }
  const proto = data['tunnel-protocol'] || 'vxlan';
  if (proto !== 'vxlan' && proto !== 'geneve') {
    throw new ClusterDataError(`cilium-config tunnel-protocol is ${JSON.stringify(proto)}, expected vxlan or geneve`);
  }
  const portText = data['tunnel-port'];
  let tunnelPort = proto === 'vxlan' ? 8472 : 6081;
  if (portText !== undefined && portText !== '' && portText !== '0') {
    const p = /^\d+$/.test(portText) ? Number(portText) : NaN;
    if (!(p >= 1 && p <= 65535)) throw new ClusterDataError(`cilium-config tunnel-port is not a port: ${JSON.stringify(portText)}`);
    tunnelPort = p;
  }
  const keys = strictModeKeys(v);
  return {
    ipv4: flag(data, 'enable-ipv4', true),
    ipv6: flag(data, 'enable-ipv6', false),
    routingMode: routing,
    tunnelProtocol: proto,
    tunnelPort,
    ipam: data['ipam'] || 'cluster-pool',
    ipsecEnabled: flag(data, 'enable-ipsec', false),
    wireguardEnabled: flag(data, 'enable-wireguard', false),
    nodeEncryption: flag(data, 'encrypt-node', false),
    strictMode: keys.some((k) => flag(data, k, false)),
    strictModeKeys: keys,
    read,
  };
}

export interface KeyExpectation {
  steady: number;
  formula: string;
}

// "2 per remote node per IP family" (docs). Two refinements from cilium-cli, which counts the
// same XFRM states: from 1.18 the overlay is encrypted too, doubling the states in tunnel mode;
// before 1.18, ENI/Azure IPAM adds one ingress state per remote node and family.
export function expectedIpsecKeys(cfg: CiliumConfig, v: CiliumVersion, nodeCount: number): KeyExpectation {
  const remote = Math.max(nodeCount - 1, 0);
  const parts: string[] = [`${remote} remote node(s)`];
  let perRemote = 2;
  if (atLeast(v, 18)) {
    if (cfg.routingMode === 'tunnel') {
      perRemote *= 2;
      parts.push('x2 tunnel (encrypted overlay, >=1.18)');
    }
  } else if (cfg.ipam === 'eni' || cfg.ipam === 'azure') {
    perRemote += 1;
    parts.push(`+1 per remote node (${cfg.ipam} IPAM)`);
  }
  const families = Math.max(Number(cfg.ipv4) + Number(cfg.ipv6), 1);
  if (families === 2) parts.push('x2 dual stack');
  return { steady: remote * perRemote * families, formula: `${perRemote} per remote node per family: ${parts.join(', ')}` };
}
