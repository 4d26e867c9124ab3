// The CiliumNode object each agent publishes for its node (pkg/nodediscovery/nodediscovery.go
// mutateNodeResource, 1.16.19-1.20.2): other agents learn the node from it (boot ID, addresses,
// encryption key, WireGuard public key), and so do the verifier and the datapath simulator.
import type { AgentView, NodeInfo } from "./model";

// pkg/wireguard/types/types.go StaticEncryptKey = 0xFF (1.16.19-1.20.2).
const WG_STATIC_ENCRYPT_KEY = 0xff;
// pkg/annotation/k8s.go: NetworkPrefix + "/wg-pub-key".
const WG_PUBKEY_ANNOTATION = "network.cilium.io/wg-pub-key";

/**
 * The router (cilium_host) address the agent takes from its pod CIDR. Cilium allocates it from
 * IPAM; the simulator takes the CIDR's last usable address so it never meets the pod addresses
 * kwok hands out from the start of the same CIDR.
 */
export function routerIP(cidr: string): string | undefined {
  const [addr, bitsStr] = cidr.split("/");
  const bits = Number(bitsStr);
  if (addr === undefined || !Number.isInteger(bits)) return undefined;
  if (!addr.includes(":")) {
    const parts = addr.split(".").map(Number);
    if (parts.length !== 4 || bits > 30) return undefined;
    const base = ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
    const last = (base | (2 ** (32 - bits) - 1)) - 1;
    return [24, 16, 8, 0].map((s) => (last >>> s) & 255).join(".");
  }
  if (bits > 126) return undefined;
  // Expand, set the host bits (but the last) to one, compress the longest zero run.
  const [head, tail] = addr.split("::");
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill("0"), ...t].map((g) => parseInt(g, 16));
  let big = groups.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
  big |= (1n << BigInt(128 - bits)) - 1n;
  big -= 1n;
  const out = Array.from({ length: 8 }, (_, i) => Number((big >> BigInt(16 * (7 - i))) & 0xffffn));
  let best = { at: -1, len: 0 };
  for (let i = 0; i < 8; ) {
    if (out[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && out[j] === 0) j++;
    if (j - i > best.len && j - i > 1) best = { at: i, len: j - i };
    i = j;
  }
  const hex = out.map((g) => g.toString(16));
  if (best.at < 0) return hex.join(":");
  return `${hex.slice(0, best.at).join(":")}::${hex.slice(best.at + best.len).join(":")}`;
}

export interface CiliumNodeObject {
  apiVersion: "cilium.io/v2";
  kind: "CiliumNode";
  metadata: {
    name: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
    ownerReferences?: { apiVersion: "v1"; kind: "Node"; name: string; uid: string }[];
  };
  spec: {
    addresses: { type: string; ip: string }[];
    bootid: string;
    encryption: { key?: number };
    ipam: { podCIDRs?: string[] };
  };
}

export function ciliumNodeFor(node: NodeInfo, view: AgentView, bootId: string): CiliumNodeObject {
  const families = [view.cfg.ipv4 ? 4 : 0, view.cfg.ipv6 ? 6 : 0].filter((f) => f !== 0);
  const cidrs = node.podCIDRs ?? [];
  const cidrOf = (f: number): string | undefined => cidrs.find((c) => c.includes(":") === (f === 6));
  const addresses = [
    ...node.internalIPs.map((ip) => ({ type: "InternalIP", ip })),
    ...families.flatMap((f) => {
      const c = cidrOf(f);
      const ip = c === undefined ? undefined : routerIP(c);
      return ip === undefined ? [] : [{ type: "CiliumInternalIP", ip }];
    }),
  ];
  // LocalNode.EncryptionKey: the IPsec SPI advertised, 0xFF for WireGuard, 0 when opted out.
  let key = 0;
  if (view.cfg.ipsec && view.currentKey !== undefined) key = view.currentKey.spi;
  if (view.wireguard !== undefined) key = view.wireguard.nodeEncryption === "OptedOut" ? 0 : WG_STATIC_ENCRYPT_KEY;
  const annotations: Record<string, string> = {};
  if (view.wireguard !== undefined) annotations[WG_PUBKEY_ANNOTATION] = view.wireguard.publicKey;
  const obj: CiliumNodeObject = {
    apiVersion: "cilium.io/v2",
    kind: "CiliumNode",
    metadata: { name: node.name, labels: node.labels, annotations },
    spec: {
      addresses,
      bootid: bootId,
      encryption: key === 0 ? {} : { key },
      // mutateNodeResource copies the Node's pod CIDRs in Kubernetes IPAM; cluster-pool CIDRs come
      // from the operator, which the simulated cluster does not run: the Node's CIDRs stand in.
      ipam: cidrs.length === 0 ? {} : { podCIDRs: families.flatMap((f) => (cidrOf(f) === undefined ? [] : [cidrOf(f)!])) },
    },
  };
  if (node.uid !== undefined) obj.metadata.ownerReferences = [{ apiVersion: "v1", kind: "Node", name: node.name, uid: node.uid }];
  return obj;
}
