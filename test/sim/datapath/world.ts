// Reads the live state the simulated datapath needs: the agent simulator's answers on
// $SIM_STATE_DIR/sim.sock (GET /state, GET /path; test/sim/README.md) and the cluster's objects
// through the simulator's API proxy on $SIM_STATE_DIR/kapi.sock (Nodes for pod CIDRs and
// addresses, CiliumNodes for CiliumInternalIPs, Pods for pod addresses, cilium-config for the
// tunnel port). Also the flow log the traffic stand-ins append to.
import { appendFileSync, mkdirSync, readFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import type { EspCipher } from "./bytes";
import { type Flow, ownerOf, type PodPath, type SimNode, type SimState } from "./model";

// Host localhost: `kubectl proxy` refuses other Host headers (its --accept-hosts default).
function get(socketPath: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: "GET", headers: { Host: "localhost", Accept: "application/json" } }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`no answer on ${socketPath} for ${path} within 30s`)));
    req.on("error", reject);
    req.end();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// The simulator answers one request at a time; when many captures stop at once its socket's
// backlog can fill (EAGAIN), which only means "ask again".
async function getJson<T>(socketPath: string, path: string, allow404 = false): Promise<T | undefined> {
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await get(socketPath, path);
      if (r.status === 404 && allow404) return undefined;
      if (r.status !== 200) throw new Error(`GET ${path} on ${socketPath}: HTTP ${r.status}: ${r.body.slice(0, 200)}`);
      return JSON.parse(r.body) as T;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if ((code !== "EAGAIN" && code !== "ECONNRESET") || attempt >= 40) throw e;
      await sleep(50 + Math.random() * 200);
    }
  }
}

export interface SimEnv {
  stateDir: string;
  pod: string;
  namespace: string;
  node: string;
}

export function simEnv(env: NodeJS.ProcessEnv): SimEnv | string {
  const stateDir = env.SIM_STATE_DIR;
  const pod = env.SIM_POD_NAME;
  const namespace = env.SIM_POD_NAMESPACE;
  const node = env.SIM_NODE_NAME;
  if (!stateDir) return "SIM_STATE_DIR is not set: is test/sim/sim.sh running for this cluster?";
  if (!pod || !namespace || !node) return "this exec carries no pod identity (the simulator has not made this pod's kwok Exec)";
  return { stateDir, pod, namespace, node };
}

interface StateNode {
  name: string;
  internalIPs: string[];
  agent: null | {
    pod: { namespace: string; name: string };
    version: string;
    config: { routingMode: "tunnel" | "native"; tunnelProtocol: string };
    ipsec: null | { key: null | { spi: number; algorithm: string } };
    wireguard: null | { nodeEncryption: "Disabled" | "Enabled" | "OptedOut" | null };
  };
}

interface PathAnswer {
  from: string;
  to: string;
  encryption: "ipsec" | "wireguard" | "none";
  ipsec?: { spi: number; receiverHasState: boolean };
  wireguard?: { receiverHasPeer: boolean };
}

interface KubeCiliumNode {
  metadata: { name: string };
  spec?: { addresses?: Array<{ type?: string; ip?: string }> };
}

export interface KubePod {
  metadata: { name: string; namespace: string };
  spec: { nodeName?: string; hostNetwork?: boolean; containers: Array<{ name: string; securityContext?: Record<string, unknown> }> };
  status?: { podIPs?: Array<{ ip: string }>; podIP?: string };
}

export async function readPod(env: SimEnv): Promise<KubePod> {
  const p = await getJson<KubePod>(
    join(env.stateDir, "kapi.sock"),
    `/api/v1/namespaces/${encodeURIComponent(env.namespace)}/pods/${encodeURIComponent(env.pod)}`,
  );
  return p!;
}

export function podIPs(p: KubePod): string[] {
  return p.status?.podIPs?.map((x) => x.ip) ?? (p.status?.podIP ? [p.status.podIP] : []);
}

// The flows with an end on NODE: only those put packets on its NIC (the model routes nothing
// through a third node). Other pairs' flows in the same time window are not this node's traffic.
export function flowsTouching(state: SimState, node: string, flows: readonly Flow[]): Flow[] {
  return flows.filter((f) => ownerOf(state, f.src)?.node.name === node || ownerOf(state, f.dst)?.node.name === node);
}

// The state for one node's traffic: that node and the nodes its flows go to or come from.
// Paths are asked only between those. `delivery` is enough to tell whether a flow completes
// (wget, ping): paths and addresses, without the per-node facts and settings only the packets'
// shape needs. Every node's addresses come from the simulator's watch of the Nodes (one small
// answer); agent facts and CiliumNodes only for the nodes involved, so a capture costs the same on
// a thousand nodes as on three.
export async function loadState(stateDir: string, node: string, flows: readonly Flow[], need: "packets" | "delivery" = "packets"): Promise<SimState> {
  const sim = join(stateDir, "sim.sock");
  const kapi = join(stateDir, "kapi.sock");
  const watched = (await getJson<{ nodes: Array<{ name: string; internalIPs: string[]; podCIDRs: string[] }> }>(sim, "/nodes"))!.nodes;
  const simNodes: SimNode[] = watched.map((n) => ({
    name: n.name,
    internalIPs: n.internalIPs,
    ciliumInternalIPs: [],
    podCIDRs: n.podCIDRs,
    ipsecSpi: null,
    nodeEncryption: false,
  }));
  const partial: SimState = {
    ciliumVersion: "",
    routingMode: "native",
    tunnelProtocol: "vxlan",
    tunnelPort: 0,
    ipsecCipher: "gcm-128",
    nodes: simNodes,
    paths: [],
  };
  const involved = new Set([node]);
  for (const f of flowsTouching(partial, node, flows))
    for (const ip of [f.src, f.dst]) {
      const o = ownerOf(partial, ip);
      if (o) involved.add(o.node.name);
    }
  const list = [...involved].map(encodeURIComponent).join(",");
  const [state, ciliumNodes] = await Promise.all([
    need === "packets" ? getJson<{ nodes: StateNode[] }>(sim, `/state?nodes=${list}`) : Promise.resolve(undefined),
    need === "packets"
      ? Promise.all([...involved].map((n) => getJson<KubeCiliumNode>(kapi, `/apis/cilium.io/v2/ciliumnodes/${encodeURIComponent(n)}`, true)))
      : Promise.resolve([]),
  ]);
  const facts = new Map((state?.nodes ?? []).map((n) => [n.name, n]));
  const cips = new Map(
    ciliumNodes.flatMap((c) =>
      c === undefined ? [] : [[c.metadata.name, (c.spec?.addresses ?? []).filter((a) => a.type === "CiliumInternalIP" && a.ip).map((a) => a.ip!)] as const],
    ),
  );
  for (const n of simNodes) {
    const f = facts.get(n.name);
    n.ciliumInternalIPs = cips.get(n.name) ?? [];
    n.ipsecSpi = f?.agent?.ipsec?.key?.spi ?? null;
    n.nodeEncryption = f?.agent?.wireguard?.nodeEncryption === "Enabled";
  }
  const names = [...involved].filter((n) => need === "delivery" || facts.has(n));
  const pairs = names.flatMap((a) => names.filter((b) => b !== a).map((b) => [a, b] as const));
  const paths: PodPath[] = await Promise.all(
    pairs.map(async ([from, to]) => {
      const p = (await getJson<PathAnswer>(sim, `/path?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`))!;
      return {
        from,
        to,
        encryption: p.encryption,
        ...(p.ipsec ? { spi: p.ipsec.spi } : {}),
        delivered: p.ipsec ? p.ipsec.receiverHasState : p.wireguard ? p.wireguard.receiverHasPeer : true,
      };
    }),
  );
  if (need === "delivery") return { ...partial, paths };
  // Cluster-wide settings, as the agents on these nodes run them.
  const agent =
    names.map((n) => facts.get(n)?.agent).find((a) => a != null) ??
    (await getJson<{ nodes: StateNode[] }>(sim, "/state"))!.nodes.map((n) => n.agent).find((a) => a != null);
  if (!agent) throw new Error("no Cilium agent has run on any node: nothing sets up a datapath");
  const tunnelProtocol = agent.config.tunnelProtocol === "geneve" ? "geneve" : "vxlan";
  const cm = await getJson<{ data?: Record<string, string> }>(
    kapi,
    `/api/v1/namespaces/${encodeURIComponent(agent.pod.namespace)}/configmaps/cilium-config`,
    true,
  );
  // pkg/defaults: TunnelPortVXLAN 8472, TunnelPortGeneve 6081, used when tunnel-port is 0/unset.
  const port = Number(cm?.data?.["tunnel-port"] ?? "0");
  const key = names.map((n) => facts.get(n)?.agent?.ipsec?.key).find((k) => k != null);
  const cipher: EspCipher = key && !/gcm/.test(key.algorithm) ? "cbc-hmac-sha256" : "gcm-128";
  return {
    ciliumVersion: agent.version,
    routingMode: agent.config.routingMode,
    tunnelProtocol,
    tunnelPort: port > 0 ? port : tunnelProtocol === "geneve" ? 6081 : 8472,
    ipsecCipher: cipher,
    nodes: simNodes,
    paths,
  };
}

// ---- the flow log: what the traffic stand-ins sent, read back by the captures ----

function flowLog(stateDir: string): string {
  const dir = join(stateDir, "datapath");
  mkdirSync(dir, { recursive: true });
  return join(dir, "flows.jsonl");
}

export function recordFlows(stateDir: string, flows: readonly Flow[]): void {
  // One small append per line: concurrent writers never interleave within a line.
  for (const f of flows) appendFileSync(flowLog(stateDir), `${JSON.stringify(f)}\n`);
}

export function readFlows(stateDir: string, fromMs: number, toMs: number): Flow[] {
  let text = "";
  try {
    text = readFileSync(flowLog(stateDir), "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Flow)
    .filter((f) => f.at + 5000 >= fromMs && f.at <= toMs);
}

export function captureDir(stateDir: string): string {
  const dir = join(stateDir, "datapath", "captures");
  mkdirSync(dir, { recursive: true });
  return dir;
}
