import { z } from "zod";
import { atLeast, type CiliumVersion } from "../encryption/ciliumVersion";
import { parseCidr } from "./ip";

// Pure readers of the Kubernetes objects the verifier looks at (all fetched as `-o json`):
// nodes, CiliumNodes, the agent DaemonSet, the agent pods and the `cilium-config` ConfigMap.
// Never Secrets.

export class ClusterDataError extends Error {
  override name = "ClusterDataError";
}

const CONTROL_PLANE_LABEL = "node-role.kubernetes.io/control-plane";

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
  if (!r.success) throw new ClusterDataError(`${kind} list: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
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
  return parseList("node", json, nodeSchema)
    .map((n) => ({
      name: n.metadata.name,
      internalIPs: (n.status?.addresses ?? []).filter((a) => a.type === "InternalIP").map((a) => a.address),
      podCIDRs: n.spec?.podCIDRs ?? (n.spec?.podCIDR ? [n.spec.podCIDR] : []),
      controlPlane: Object.hasOwn(n.metadata.labels ?? {}, CONTROL_PLANE_LABEL),
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

export const AGENT_CONTAINER = "cilium-agent";

export function parseAgentPods(json: string): AgentPod[] {
  return parseList("pod", json, podSchema)
    .map((p) => ({
      name: p.metadata.name,
      node: p.spec.nodeName ?? null,
      phase: p.status?.phase ?? "Unknown",
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
  if (!r.success) throw new ClusterDataError(`pod: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  const p = r.data;
  const ips = p.status?.podIPs?.map((x) => x.ip) ?? (p.status?.podIP ? [p.status.podIP] : []);
  const statuses = p.status?.containerStatuses ?? [];
  return {
    name: p.metadata.name,
    node: p.spec.nodeName ?? null,
    phase: p.status?.phase ?? "Unknown",
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
  if (!r.success) throw new ClusterDataError(`DaemonSet: ${r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  const ds = r.data;
  const s = ds.status ?? {};
  const desired = s.desiredNumberScheduled ?? 0;
  const updated = s.updatedNumberScheduled ?? 0;
  const available = s.numberAvailable ?? 0;
  const name = ds.metadata.name;
  if ((ds.metadata.generation ?? 0) > (s.observedGeneration ?? 0)) {
    return { done: false, desired, message: `waiting for daemon set "${name}" spec update to be observed` };
  }
  const rolling = (ds.spec?.updateStrategy?.type ?? "RollingUpdate") === "RollingUpdate";
  if (rolling && updated < desired) {
    return { done: false, desired, message: `daemon set "${name}" rollout: ${updated} out of ${desired} new pods have been updated` };
  }
  if (available < desired) {
    return { done: false, desired, message: `daemon set "${name}" rollout: ${available} of ${desired} updated pods are available` };
  }
  return { done: true, desired, message: `daemon set "${name}" successfully rolled out (${desired} pods)` };
}

export type RoutingMode = "tunnel" | "native";

export interface CiliumConfig {
  ipv4: boolean;
  ipv6: boolean;
  routingMode: RoutingMode;
  tunnelProtocol: "vxlan" | "geneve";
  tunnelPort: number;
  ipam: string;
  ipv4PodSubnets: number;
  ipv6PodSubnets: number;
  // 1.16 only: the agent option that adds overlay states (removed in 1.17, where tunnel mode always does).
  encryptedOverlay: boolean;
  clusterId: number;
  ipsecEnabled: boolean;
  wireguardEnabled: boolean;
  nodeEncryption: boolean;
  strictMode: boolean;
  strictModeKeys: string[];
  // enable-ipsec-key-watcher (default true on every supported version): without it an agent reads
  // the key file only when it starts (ipsec_linux.go startKeyfileWatcher returns early).
  ipsecKeyWatcher: boolean;
  // Exactly the keys read, as found; cilium-config carries no secret (the IPsec key is a Secret).
  read: Record<string, string>;
}

// Strict mode moved to `*-egress` keys in 1.19 (old keys deprecated) and the old keys are gone in 1.20.
export function strictModeKeys(v: CiliumVersion): string[] {
  if (atLeast(v, 20)) return ["enable-encryption-strict-mode-egress"];
  if (atLeast(v, 19)) return ["enable-encryption-strict-mode-egress", "enable-encryption-strict-mode"];
  return ["enable-encryption-strict-mode"];
}

export function configKeysRead(v: CiliumVersion): string[] {
  return [
    "enable-ipv4",
    "enable-ipv6",
    "routing-mode",
    "tunnel-protocol",
    "tunnel-port",
    "ipam",
    "ipv4-pod-subnets",
    "ipv6-pod-subnets",
    ...(atLeast(v, 17) ? [] : ["enable-ipsec-encrypted-overlay"]),
    "cluster-id",
    "enable-ipsec",
    "enable-wireguard",
    "encrypt-node",
    ...strictModeKeys(v),
    "enable-ipsec-key-watcher",
  ];
}

function flag(data: Record<string, string>, key: string, dflt: boolean): boolean {
  const v = data[key];
  if (v === undefined || v === "") return dflt;
  if (v === "true") return true;
  if (v === "false") return false;
  throw new ClusterDataError(`cilium-config key ${key} is neither "true" nor "false": ${JSON.stringify(v)}`);
}

// The agent reads these as a string slice and skips what is not a CIDR (pkg/option/config.go).
function cidrCount(value: string | undefined): number {
  return (value ?? "").split(/[\s,]+/).filter((c) => c !== "" && parseCidr(c) !== null).length;
}

export function parseCiliumConfig(json: string, v: CiliumVersion): CiliumConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (e) {
    throw new ClusterDataError(`ConfigMap is not JSON: ${(e as Error).message}`);
  }
  const r = z.object({ data: z.record(z.string(), z.string()).nullish() }).safeParse(doc);
  if (!r.success) throw new ClusterDataError("ConfigMap cilium-config has no readable data");
  const data = r.data.data ?? {};
  const read: Record<string, string> = {};
  for (const k of configKeysRead(v)) if (data[k] !== undefined) read[k] = data[k];

  const routing = data["routing-mode"] ?? "tunnel";
  if (routing !== "tunnel" && routing !== "native") {
    throw new ClusterDataError(`cilium-config routing-mode is ${JSON.stringify(routing)}, expected tunnel or native`);
  }
  const proto = data["tunnel-protocol"] || "vxlan";
  if (proto !== "vxlan" && proto !== "geneve") {
    throw new ClusterDataError(`cilium-config tunnel-protocol is ${JSON.stringify(proto)}, expected vxlan or geneve`);
  }
  const portText = data["tunnel-port"];
  let tunnelPort = proto === "vxlan" ? 8472 : 6081;
  if (portText !== undefined && portText !== "" && portText !== "0") {
    const p = /^\d+$/.test(portText) ? Number(portText) : NaN;
    if (!(p >= 1 && p <= 65535)) throw new ClusterDataError(`cilium-config tunnel-port is not a port: ${JSON.stringify(portText)}`);
    tunnelPort = p;
  }
  const idText = data["cluster-id"] || "0";
  const clusterId = /^\d+$/.test(idText) ? Number(idText) : NaN;
  if (!(clusterId >= 0 && clusterId <= 511)) throw new ClusterDataError(`cilium-config cluster-id is not a cluster ID: ${JSON.stringify(idText)}`);
  const keys = strictModeKeys(v);
  return {
    ipv4: flag(data, "enable-ipv4", true),
    ipv6: flag(data, "enable-ipv6", false),
    routingMode: routing,
    tunnelProtocol: proto,
    tunnelPort,
    ipam: data.ipam || "cluster-pool",
    ipv4PodSubnets: cidrCount(data["ipv4-pod-subnets"]),
    ipv6PodSubnets: cidrCount(data["ipv6-pod-subnets"]),
    encryptedOverlay: !atLeast(v, 17) && flag(data, "enable-ipsec-encrypted-overlay", false),
    clusterId,
    ipsecEnabled: flag(data, "enable-ipsec", false),
    wireguardEnabled: flag(data, "enable-wireguard", false),
    nodeEncryption: flag(data, "encrypt-node", false),
    strictMode: keys.some((k) => flag(data, k, false)),
    strictModeKeys: keys,
    // cilium v1.16.19-v1.18.11 pkg/defaults/defaults.go, v1.19.7-v1.20.2 pkg/datapath/linux/ipsec/cell.go: true.
    ipsecKeyWatcher: flag(data, "enable-ipsec-key-watcher", true),
    read,
  };
}

// A node as the agents know it. Cilium's node manager learns the nodes of its cluster from
// CiliumNode objects (pkg/node/types/node.go ParseCiliumNode), so these, not the Kubernetes Nodes
// or the agent pods, decide which XFRM states and WireGuard peers an agent holds.
export interface KnownNode {
  name: string;
  bootId: boolean;
  // Families of its CiliumInternalIPs (the cilium_host addresses the XFRM states are built on).
  ipv4: boolean;
  ipv6: boolean;
  // Annotation network.cilium.io/wg-pub-key (or its alias io.cilium.network.wg-pub-key), written
  // by the node's WireGuard agent (pkg/wireguard/agent/agent.go) and read into WireguardPubKey.
  wireguardKey: boolean;
}

const WG_KEY_ANNOTATIONS = ["network.cilium.io/wg-pub-key", "io.cilium.network.wg-pub-key"];

const ciliumNodeSchema = z.object({
  metadata: z.object({ name: z.string().min(1), annotations: z.record(z.string(), z.string()).nullish() }),
  spec: z
    .object({
      bootid: z.string().nullish(),
      addresses: z.array(z.object({ type: z.string().nullish(), ip: z.string().nullish() })).nullish(),
      encryption: z.object({ key: z.number().int().nullish() }).nullish(),
    })
    .nullish(),
});

export interface CiliumNodes {
  known: KnownNode[];
  internalIps: Map<string, string[]>;
  // spec.encryption.key: the IPsec SPI (key id) the node's agent uses. Each agent writes its own
  // from LocalNode.EncryptionKey (pkg/nodediscovery/nodediscovery.go mutateNodeResource,
  // v1.16.19-v1.20.2); the field is omitempty, so absent means 0.
  keyIds: Map<string, number>;
}

export function parseCiliumNodes(json: string): CiliumNodes {
  const internalIps = new Map<string, string[]>();
  const keyIds = new Map<string, number>();
  const known = parseList("CiliumNode", json, ciliumNodeSchema)
    .map((n) => {
      keyIds.set(n.metadata.name, n.spec?.encryption?.key ?? 0);
      const internal = (n.spec?.addresses ?? []).filter((a) => a.type === "CiliumInternalIP" && a.ip).map((a) => a.ip!);
      if (internal.length > 0) internalIps.set(n.metadata.name, internal);
      const annotations = n.metadata.annotations ?? {};
      return {
        name: n.metadata.name,
        bootId: Boolean(n.spec?.bootid),
        ipv4: internal.some((ip) => !ip.includes(":")),
        ipv6: internal.some((ip) => ip.includes(":")),
        wireguardKey: WG_KEY_ANNOTATIONS.some((k) => Boolean(annotations[k])),
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name));
  return { known, internalIps, keyIds };
}

// CiliumNodes of no Kubernetes Node that announce another key id than expected, as "name (key id M)".
// Nothing will update them: their agent is gone, and Kubernetes deletes a CiliumNode with its Node,
// which the agent makes its owner (pkg/nodediscovery/nodediscovery.go mutateNodeResource).
export function staleKeyIds(keyIds: ReadonlyMap<string, number>, nodes: readonly string[], expected: number): string[] {
  const judged = new Set(nodes);
  return [...keyIds].filter(([name, id]) => !judged.has(name) && id !== expected).map(([name, id]) => `${name} (${id === 0 ? "no key id" : `key id ${id}`})`);
}

// When the CiliumNode API is not served, the nodes with a ready agent stand in for it.
export function knownFromAgents(names: readonly string[], cfg: CiliumConfig): KnownNode[] {
  return names.map((name) => ({ name, bootId: true, ipv4: cfg.ipv4, ipv6: cfg.ipv6, wireguardKey: cfg.wireguardEnabled }));
}

export interface FamilyKeys {
  ipv4: number;
  ipv6: number;
  why: string;
}

// Unique IPsec keys an agent holds for one remote node, per IP family, as counted by
// CountUniqueIPsecKeys (pkg/common/ipsec/utils.go). With per-tunnel keys (`+`, always written by
// this program; always on from 1.17) each key is derived from the global key, the source and
// destination IPs and both boot IDs (pkg/datapath/linux/ipsec/ipsec_linux.go
// computeNodeIPsecKey), so every XFRM state with another (src, dst) pair holds another key, while
// states that share the pair share the key. The states are created in pkg/datapath/linux/ipsec.go
// of each version:
// - one pod subnet per node (cluster-pool, kubernetes IPAM): out and in between the two
//   CiliumInternalIPs = 2;
// - tunnel mode adds overlay out and in between the node IPs = +2: for IPv4 from 1.17
//   (enableIPSecIPv4Do, EnableEncapsulation), for IPv6 too from 1.18 (enableIPSecIPv6Do); in 1.16
//   only with enable-ipsec-encrypted-overlay (IPv4, reqid 2);
// - subnet encryption (ENI or Azure IPAM, or explicit ipv4/ipv6-pod-subnets): out, in via the
//   CiliumInternalIPs and in via the node IPs = 3 for a family with pod subnets; a family without
//   gets no state in 1.16 (everything is inside the loop over the subnets) and the two in states
//   from 1.17 (enableIPSecIPv4DoSubnetEncryption). ENI/Azure derive IPv4 subnets on every
//   version and IPv6 subnets from 1.20 (pkg/datapath/linux/node.go).
export function ipsecKeysPerRemoteNode(cfg: CiliumConfig, v: CiliumVersion): FamilyKeys {
  const cloud = cfg.ipam === "eni" || cfg.ipam === "azure";
  const subnets = { ipv4: cfg.ipv4PodSubnets > 0 || cloud, ipv6: cfg.ipv6PodSubnets > 0 || (cloud && atLeast(v, 20)) };
  if (subnets.ipv4 || subnets.ipv6) {
    const without = atLeast(v, 17) ? 2 : 0;
    const per = (f: "ipv4" | "ipv6"): number => (subnets[f] ? 3 : without);
    const source = cloud ? `${cfg.ipam} IPAM` : "ipv4/ipv6-pod-subnets";
    return { ipv4: per("ipv4"), ipv6: per("ipv6"), why: `subnet encryption (${source}): 3 per family with pod subnets, ${without} without` };
  }
  if (cfg.routingMode === "tunnel") {
    if (atLeast(v, 18)) return { ipv4: 4, ipv6: 4, why: "tunnel mode: pod and overlay states, 4 per family" };
    if (atLeast(v, 17)) return { ipv4: 4, ipv6: 2, why: "tunnel mode on 1.17: 4 for IPv4 (overlay states), 2 for IPv6" };
  }
  if (cfg.encryptedOverlay) return { ipv4: 4, ipv6: 2, why: "encrypted overlay on 1.16: 4 for IPv4, 2 for IPv6" };
  return { ipv4: 2, ipv6: 2, why: `${cfg.routingMode === "tunnel" ? "tunnel mode on 1.16" : "native routing"}: 2 per family` };
}

export interface KeyExpectation {
  steady: number;
  // Cluster Mesh: remote clusters' nodes hold keys too, and the local objects cannot say how many.
  atLeast: boolean;
  formula: string;
}

function nodeKeys(n: KnownNode, cfg: CiliumConfig, per: FamilyKeys): number {
  // A remote node without a boot ID or a CiliumInternalIP of a family gets no state for it
  // (enableIPsecIPv4/IPv6 return early).
  if (!n.bootId) return 0;
  return (cfg.ipv4 && n.ipv4 ? per.ipv4 : 0) + (cfg.ipv6 && n.ipv6 ? per.ipv6 : 0);
}

// What each agent's `encrypt status` should count when no rotation is running.
export function expectedIpsecKeys(cfg: CiliumConfig, v: CiliumVersion, known: readonly KnownNode[]): (node: string) => KeyExpectation {
  const per = ipsecKeysPerRemoteNode(cfg, v);
  const each = new Map(known.map((n) => [n.name, nodeKeys(n, cfg, per)]));
  const total = [...each.values()].reduce((a, b) => a + b, 0);
  const families = [cfg.ipv4 ? "IPv4" : null, cfg.ipv6 ? "IPv6" : null].filter(Boolean).join("+");
  const skipped = known.filter((n) => (each.get(n.name) ?? 0) === 0).length;
  return (node) => {
    const remote = known.length - (each.has(node) ? 1 : 0);
    const note = skipped > 0 ? `; ${skipped} node(s) without a boot ID or CiliumInternalIP hold no state` : "";
    return {
      steady: total - (each.get(node) ?? 0),
      atLeast: cfg.clusterId > 0,
      formula: `${per.why}, ${families}, ${remote} remote node(s)${note}`,
    };
  };
}

export interface PeerExpectation {
  steady: number;
  atLeast: boolean;
}

// Each agent adds a peer for every other node whose WireGuard key it knows
// (pkg/wireguard/agent/node_handler.go: local nodes and nodes without a key are skipped).
export function expectedWireguardPeers(cfg: CiliumConfig, known: readonly KnownNode[]): (node: string) => PeerExpectation {
  const withKey = new Set(known.filter((n) => n.wireguardKey).map((n) => n.name));
  return (node) => ({ steady: withKey.size - (withKey.has(node) ? 1 : 0), atLeast: cfg.clusterId > 0 });
}
