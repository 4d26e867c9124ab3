// Loads the agent-output fixtures (test/fixtures/agents, written by the generator from Cilium's
// models) and builds the Kubernetes objects a scenario implies.
import { createHash, createPrivateKey, createPublicKey } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const FIXTURES = join(__dirname, "../../fixtures/agents");
// The fake cluster's stand-ins for the wire check's commands (the e2e tests use test/sim instead).
export const STANDIN = join(__dirname, "standin");

export interface ScenarioNode {
  name: string;
  controlPlane?: boolean;
  // false: no agent pod on the node.
  agent?: boolean;
  // false: no CiliumNode object (its agent never started).
  ciliumNode?: boolean;
  // false: a CiliumNode whose Kubernetes Node is gone.
  k8sNode?: boolean;
}

// One read of one node, as the generator's input (generator/main.go AgentState).
export interface AgentState {
  agent?: "running" | "socket-missing";
  mode: string;
  ipsec?: { keys: number; otherReqidKeys?: number; maxOseq?: number; xfrm?: Record<string, number>; decryptInterfaces: string[] };
  wireguard?: { listenPort: number; peers: number; nodeEncryption: string; optOutLabels: string };
}

export interface ExpectedProblem {
  node: string | null;
  severity: "fail" | "unverified";
  includes: string[];
}

export interface Manifest {
  name: string;
  description: string;
  ciliumVersion: string;
  mode: "ipsec" | "wireguard";
  config: Record<string, string>;
  nodes: ScenarioNode[];
  expectations: { nodeEncryption: boolean | null; strictMode: boolean | null };
  agents: Record<string, AgentState[]>;
  expect: { verdict: "verified" | "not-encrypted" | "unverified"; problems: ExpectedProblem[]; warningsInclude?: string[] };
  run?: { timeout: number };
}

export type Command = "encrypt-status" | "status";

export function scenarioNames(): string[] {
  return readdirSync(FIXTURES, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(FIXTURES, d.name, "scenario.json")))
    .map((d) => d.name)
    .sort();
}

export function loadManifest(name: string): Manifest {
  return JSON.parse(readFileSync(join(FIXTURES, name, "scenario.json"), "utf8")) as Manifest;
}

export interface AgentOutput {
  stdout: string;
  stderr: string;
  code: number;
}

// Read r (1-based) of a node: round-<r>/ while the generator wrote one, the scenario directory
// after. A .stderr file means cilium-dbg exited 1 (Fatalf or os.Exit(1)), a .json one exit 0.
export function agentOutput(scenario: string, node: string, command: Command, read: number): AgentOutput | null {
  const dirs = [join(FIXTURES, scenario, `round-${read}`), join(FIXTURES, scenario)];
  for (const d of dirs) {
    const json = join(d, `${node}.${command}.json`);
    const err = join(d, `${node}.${command}.stderr`);
    if (existsSync(json)) return { stdout: readFileSync(json, "utf8"), stderr: "", code: 0 };
    if (existsSync(err)) return { stdout: "", stderr: readFileSync(err, "utf8"), code: 1 };
  }
  return null;
}

// The state a read stands for: the last one repeats.
export function agentState(m: Manifest, node: string, read: number): AgentState {
  const reads = m.agents[node]!;
  return reads[Math.min(read, reads.length) - 1]!;
}

export function nodeIp(i: number): string {
  return `192.0.2.${11 + i}`;
}

// The same Curve25519 key generator/main.go derives (SHA-256 of "wg:<node>" as private key), so
// the CiliumNode annotation carries the key the agent reports.
export function wgPublicKey(node: string): string {
  const seed = createHash("sha256").update(`wg:${node}`).digest();
  const pkcs8 = Buffer.concat([Buffer.from("302e020100300506032b656e04220420", "hex"), seed]);
  const jwk = createPublicKey(createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" })).export({ format: "jwk" });
  return Buffer.from(jwk.x!, "base64url").toString("base64");
}

// The key id IPsec scenarios' agents announce (any of 1-15 would do).
export const SCENARIO_KEY_ID = 1;

export interface K8sObjects {
  nodes: string;
  pods: string;
  daemonset: string;
  configmap: string;
  ciliumnodes: string;
}

export function k8sObjects(m: Manifest, namespace = "kube-system"): K8sObjects {
  const ipv4 = m.config["enable-ipv4"] !== "false";
  const ipv6 = m.config["enable-ipv6"] === "true";
  const k8sNodes = m.nodes.map((n, i) => ({ n, i })).filter(({ n }) => n.k8sNode !== false);
  const nodes = k8sNodes.map(({ n, i }) => ({
    metadata: { name: n.name, labels: n.controlPlane ? { "node-role.kubernetes.io/control-plane": "" } : {} },
    spec: {},
    status: {
      addresses: [
        { type: "InternalIP", address: nodeIp(i) },
        { type: "Hostname", address: n.name },
      ],
    },
  }));
  const agents = k8sNodes.filter(({ n }) => n.agent !== false).map(({ n }) => n);
  const pods = agents.map((n) => ({
    metadata: { name: `cilium-${n.name.replace("node-", "")}x7k`, namespace, labels: { "k8s-app": "cilium" } },
    spec: { nodeName: n.name },
    status: { phase: "Running", containerStatuses: [{ name: "cilium-agent", ready: true }] },
  }));
  const daemonset = {
    metadata: { name: "cilium", namespace, generation: 3 },
    spec: { updateStrategy: { type: "RollingUpdate" } },
    status: {
      observedGeneration: 3,
      desiredNumberScheduled: agents.length,
      updatedNumberScheduled: agents.length,
      numberAvailable: agents.length,
      numberReady: agents.length,
    },
  };
  const configmap = { metadata: { name: "cilium-config", namespace }, data: m.config };
  // What a running agent writes into its CiliumNode (pkg/nodediscovery/nodediscovery.go
  // mutateNodeResource): boot ID, node and CiliumInternalIP addresses per family, with IPsec the
  // SPI of its key as encryption.key, and with WireGuard its public key annotation.
  const ciliumnodes = m.nodes
    .map((n, i) => ({ n, i }))
    .filter(({ n }) => n.ciliumNode !== false)
    .map(({ n, i }) => ({
      apiVersion: "cilium.io/v2",
      kind: "CiliumNode",
      metadata: { name: n.name, annotations: m.mode === "wireguard" ? { "network.cilium.io/wg-pub-key": wgPublicKey(n.name) } : {} },
      spec: {
        bootid: `8a1f${String(i).padStart(4, "0")}-1c2d-4e5f-8a9b-0c1d2e3f4a5b`,
        addresses: [
          ...(ipv4
            ? [
                { type: "InternalIP", ip: nodeIp(i) },
                { type: "CiliumInternalIP", ip: `10.0.${i}.1` },
              ]
            : []),
          ...(ipv6
            ? [
                { type: "InternalIP", ip: `2001:db8::${11 + i}` },
                { type: "CiliumInternalIP", ip: `fd00:10:${i}::1` },
              ]
            : []),
        ],
        ...(m.mode === "ipsec" ? { encryption: { key: SCENARIO_KEY_ID } } : {}),
      },
    }));
  return {
    nodes: JSON.stringify({ items: nodes }),
    pods: JSON.stringify({ items: pods }),
    daemonset: JSON.stringify(daemonset),
    configmap: JSON.stringify(configmap),
    ciliumnodes: JSON.stringify({ apiVersion: "v1", kind: "List", items: ciliumnodes }),
  };
}
