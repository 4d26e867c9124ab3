// Builds simulator worlds for unit tests: nodes, agent pods, key Secret versions.
import { type ParsedKeyFile, parseKeyFile } from "./keyfile";
import type { AgentPod, NodeFaults, World } from "./model";
import { MINORS, type Minor } from "./versions";

export const SECRET = "cilium-ipsec-keys";
export const NS = "kube-system";

export function keyFiles(content: string): Map<string, Record<Minor, ParsedKeyFile>> {
  return new Map([["keys", Object.fromEntries(MINORS.map((m) => [m, parseKeyFile(m, content)])) as Record<Minor, ParsedKeyFile>]]);
}

export function ipsecConfig(extra: Record<string, string> = {}): Record<string, string> {
  return {
    "enable-ipv4": "true",
    "enable-ipv6": "false",
    "routing-mode": "tunnel",
    "tunnel-protocol": "vxlan",
    "enable-ipsec": "true",
    "ipsec-key-file": "/etc/ipsec/keys",
    "enable-ipsec-key-watcher": "true",
    "ipsec-key-rotation-duration": "30s",
    ...extra,
  };
}

export function wireguardConfig(extra: Record<string, string> = {}): Record<string, string> {
  return { "enable-ipv4": "true", "enable-ipv6": "false", "routing-mode": "tunnel", "enable-wireguard": "true", ...extra };
}

let uid = 0;
export function agentPod(node: string, minor: Minor, startMs: number, configData: Record<string, string> | undefined): AgentPod {
  uid++;
  return {
    namespace: NS,
    name: `cilium-${uid}`,
    uid: `uid-${uid}`,
    node,
    minor,
    startMs,
    configData,
    mounts: [{ mountPath: "/etc/ipsec", secret: SECRET }, { mountPath: "/tmp/cilium/config-map" }],
  };
}

export interface WorldSpec {
  nodes: string[];
  minor: Minor;
  config: Record<string, string>;
  /** Key file content over time: [atMs, content]. */
  keys?: [number, string][];
  startMs?: number;
  ips?: Record<string, string[]>;
  labels?: Record<string, Record<string, string>>;
  faults?: Record<string, NodeFaults>;
}

export function world(spec: WorldSpec): World {
  const w: World = {
    nodes: new Map(spec.nodes.map((n, i) => [n, { name: n, internalIPs: spec.ips?.[n] ?? [`192.0.2.${i + 1}`], labels: spec.labels?.[n] ?? {} }])),
    podsByNode: new Map(spec.nodes.map((n) => [n, [agentPod(n, spec.minor, spec.startMs ?? 0, spec.config)]])),
    secrets: new Map([[`${NS}/${SECRET}`, (spec.keys ?? []).map(([atMs, c]) => ({ atMs, files: keyFiles(c) }))]]),
    faults: new Map(Object.entries(spec.faults ?? {})),
    wgPublicKey: (n) => Buffer.from(`wg-public-key-of-${n}`.padEnd(32, ".").slice(0, 32)).toString("base64"),
  };
  return w;
}

/** Restarts the agent on `node` at `atMs` with `config` (the pod is replaced, as by a rollout). */
export function restart(w: World, node: string, atMs: number, config: Record<string, string>, minor: Minor): void {
  const pods = w.podsByNode.get(node)!;
  pods[pods.length - 1]!.endMs = atMs;
  pods.push(agentPod(node, minor, atMs, config));
}
