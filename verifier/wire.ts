import { randomBytes } from "node:crypto";
import { atLeast } from "../encryption/ciliumVersion";
import { MAX_TIMEOUT_SECONDS, type VerifierArgs } from "./args";
import { type ClassifyOptions, judgeCapture, summarizeCapture, type WireVerdict } from "./classify";
import { type CiliumConfig, ClusterDataError, type NodeInfo, type PodInfo, parsePod } from "./cluster";
import { parseIp } from "./ip";
import { describeFailure, type ExecTarget, type Kubectl, type KubectlResult } from "./kubectl";
import type { WireNodeResult, WireResult } from "./report";
import type { Teardown, UndoRun } from "./teardown";

// The wire check, after Cilium's pod-to-pod-encryption tests: per sampled node pair, a client pod
// on one node talks to a server pod on the other while a host-network tcpdump on each of the two
// nodes captures what leaves that node (-Q out: IPsec re-injects decrypted packets on the
// receiving NIC, so only egress proves anything). A ping between the two nodes carrying a marker
// is the positive control: node traffic is plaintext, so the capture must show it unless it is
// blind.

export const CONTROL_MARKER = Buffer.from("cilium-enc-probe", "ascii");
export const SERVER_PORT = 8080;
// Upper bound of a capture, only reached if stopping it fails: it is stopped as soon as the
// pair's traffic is done, so the bound can be generous for slow or busy clusters.
const CAPTURE_SECONDS = 90;
const SNAPLEN = 512;
const REQUESTS_PER_ADDRESS = 3;
// Pairs checked at once: each holds two long-running execs (the captures) plus short ones, so
// --concurrency bounds the API server's exec streams of the wire check as it does the agent reads.
export function pairsInFlight(concurrency: number): number {
  return Math.max(1, Math.floor(concurrency / 2));
}
// Progress at most this often: at a thousand nodes a line per pair would bury the rest.
const PROGRESS_EVERY_MS = 10_000;
export const LABEL = "app.kubernetes.io/managed-by";
export const LABEL_VALUE = "cilium-encryption-verifier";
export const NAMESPACE_PREFIX = "cilium-encryption-verify-";
const OWN_NAMESPACE = /^cilium-encryption-verify-[0-9a-f]{6}$/;
// How long the namespace of a run may live, counted from its creation: the run's time left then,
// plus what the run still does after its deadline (the pairs in flight finish, every exec and
// capture within its own bound of a few minutes, then the namespace is deleted), many times over.
// A namespace older than that was left by a run that was killed.
export const LIFETIME_ANNOTATION = "cilium-encryption-verifier/lifetime-seconds";
export const LIFETIME_SLACK_SECONDS = 1800;
// No run lives longer, so a namespace that declares no lifetime, or a longer one, gets this.
export const MAX_LIFETIME_SECONDS = MAX_TIMEOUT_SECONDS + LIFETIME_SLACK_SECONDS;

export function namespaceLifetime(msLeft: number): number {
  return Math.min(Math.max(0, Math.ceil(msLeft / 1000)) + LIFETIME_SLACK_SECONDS, MAX_LIFETIME_SECONDS);
}

export interface WirePair {
  index: number;
  client: NodeInfo;
  server: NodeInfo;
}

// The sample of node pairs, bounded and covering every node. Nodes with an InternalIP are put in
// order, workers first (control-plane nodes opt out of WireGuard node encryption by default and
// may carry no workload traffic), each group by name; consecutive nodes form a pair, the first
// as client, the second as server; with an odd count the last node is client toward the first.
// So every node is sender or receiver of exactly one pair (the first node of two when the count
// is odd): ceil(n/2) pairs, never the n(n-1) of all pairs. Both directions of each pair are
// asserted (each node's capture sees its own egress: requests on the client, responses on the
// server), so every node's egress is checked once.
export function samplePairs(nodes: readonly NodeInfo[]): WirePair[] | string {
  const usable = nodes.filter((n) => n.internalIPs.some((ip) => parseIp(ip)));
  const byName = (a: NodeInfo, b: NodeInfo): number => a.name.localeCompare(b.name);
  const ordered = [...usable.filter((n) => !n.controlPlane).sort(byName), ...usable.filter((n) => n.controlPlane).sort(byName)];
  if (ordered.length < 2) {
    return `needs two nodes with a Cilium agent and an InternalIP address, found ${ordered.length}`;
  }
  const pairs: WirePair[] = [];
  for (let i = 0; i + 1 < ordered.length; i += 2) pairs.push({ index: pairs.length, client: ordered[i]!, server: ordered[i + 1]! });
  if (ordered.length % 2 === 1) pairs.push({ index: pairs.length, client: ordered[ordered.length - 1]!, server: ordered[0]! });
  return pairs;
}

export interface PairPods {
  server: string;
  client: string;
  captureClient: string;
  captureServer: string;
}

export function podNames(index: number): PairPods {
  return { server: `p${index}-server`, client: `p${index}-client`, captureClient: `p${index}-capture-client`, captureServer: `p${index}-capture-server` };
}

// Least privilege. The workload pods run as nobody with no capability at all. The capture pods
// need the host network (to see the node's NIC) and, of all capabilities, only NET_RAW: tcpdump
// opens a packet socket and ping an ICMP socket; `-p` keeps tcpdump from asking for promiscuous
// mode (only this node's own egress is wanted), `ip route get`, `timeout` and `pkill` of a
// process of the same user need none. Nothing is privileged, nothing can gain privileges, and no
// root filesystem is writable (the capture goes to stdout).
const RESTRICTED = {
  allowPrivilegeEscalation: false,
  privileged: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ["ALL"] },
  seccompProfile: { type: "RuntimeDefault" },
};
export const WORKLOAD_SECURITY = { ...RESTRICTED, runAsNonRoot: true, runAsUser: 65534, runAsGroup: 65534 };
// Capabilities only take effect for root in a container (Kubernetes sets no ambient ones).
export const CAPTURE_SECURITY = { ...RESTRICTED, runAsUser: 0, capabilities: { drop: ["ALL"], add: ["NET_RAW"] } };

function pod(name: string, role: string, pair: number, node: string, spec: Record<string, unknown>): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, labels: { [LABEL]: LABEL_VALUE, "cilium-encryption-verifier/role": role, "cilium-encryption-verifier/pair": String(pair) } },
    spec: {
      nodeName: node,
      restartPolicy: "Never",
      terminationGracePeriodSeconds: 0,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      tolerations: [{ operator: "Exists" }],
      ...spec,
    },
  };
}

export function wireManifests(
  namespace: string,
  lifetimeSeconds: number,
  pairs: readonly WirePair[],
  workloadImage: string,
  captureImage: string,
): Record<string, unknown> {
  const capture = (name: string, pair: number, node: string): Record<string, unknown> =>
    pod(name, "capture", pair, node, {
      hostNetwork: true,
      containers: [{ name: "capture", image: captureImage, command: ["sleep", "3600"], securityContext: CAPTURE_SECURITY }],
    });
  const pods = pairs.flatMap((p) => {
    const n = podNames(p.index);
    return [
      pod(n.server, "server", p.index, p.server.name, {
        containers: [
          { name: "server", image: workloadImage, command: ["httpd", "-f", "-p", String(SERVER_PORT), "-h", "/etc"], securityContext: WORKLOAD_SECURITY },
        ],
      }),
      pod(n.client, "client", p.index, p.client.name, {
        containers: [{ name: "client", image: workloadImage, command: ["sleep", "3600"], securityContext: WORKLOAD_SECURITY }],
      }),
      capture(n.captureClient, p.index, p.client.name),
      capture(n.captureServer, p.index, p.server.name),
    ];
  });
  return {
    apiVersion: "v1",
    kind: "List",
    items: [
      {
        apiVersion: "v1",
        kind: "Namespace",
        // hostNetwork is outside the baseline Pod Security level, so the namespace must admit
        // "privileged"; the pods themselves are not.
        metadata: {
          name: namespace,
          labels: { [LABEL]: LABEL_VALUE, "pod-security.kubernetes.io/enforce": "privileged" },
          annotations: { [LIFETIME_ANNOTATION]: String(lifetimeSeconds) },
        },
      },
      ...pods.map((p) => ({ ...p, metadata: { ...(p.metadata as object), namespace } })),
    ],
  };
}

// tcpdump's filter: the node pair (ESP/WireGuard/overlay and the control ping) and the pod pair
// (plaintext in native routing), for every address family the nodes and pods have.
export function captureFilter(nodeA: readonly string[], nodeB: readonly string[], podA: readonly string[], podB: readonly string[]): string {
  const pairs: string[] = [];
  const family = (ip: string): number => parseIp(ip)?.length ?? 0;
  for (const [as, bs] of [
    [nodeA, nodeB],
    [podA, podB],
  ] as const) {
    for (const a of as) for (const b of bs) if (family(a) === family(b)) pairs.push(`(host ${a} and host ${b})`);
  }
  return pairs.join(" or ");
}

export function parseRouteDevice(json: string): string | null {
  try {
    const routes = JSON.parse(json) as unknown;
    if (Array.isArray(routes) && routes.length > 0) {
      const dev = (routes[0] as { dev?: unknown }).dev;
      if (typeof dev === "string" && /^[A-Za-z0-9_.@-]{1,15}$/.test(dev)) return dev;
    }
  } catch {
    // reported by the caller as "no device"
  }
  return null;
}

export function combineWire(nodes: readonly WireNodeResult[]): WireVerdict {
  if (nodes.some((n) => n.verdict === "plaintext")) return "plaintext";
  if (nodes.every((n) => n.verdict === "encrypted")) return "encrypted";
  return "inconclusive";
}

export interface LeftNamespace {
  name: string;
  ageSeconds: number;
  lifetimeSeconds: number;
}

/**
 * The namespaces earlier runs left, from a list of the namespaces with our label that holds OWN:
 * those named as this program names them, older than the lifetime they declare (at most
 * MAX_LIFETIME_SECONDS), not already being deleted. Ages are counted on the API server's clock, from
 * the creation time of OWN, so a wrong clock here never makes a running check's namespace look old.
 * `running`: the others, of runs still within their lifetime. A string when the list cannot say.
 */
export function leftNamespaces(listJson: string, own: string): { left: LeftNamespace[]; running: string[] } | string {
  let items: unknown;
  try {
    items = (JSON.parse(listJson) as { items?: unknown }).items;
  } catch (e) {
    return `the namespace list is not JSON: ${(e as Error).message}`;
  }
  if (!Array.isArray(items)) return "the namespace list has no items";
  type Meta = {
    name?: unknown;
    creationTimestamp?: unknown;
    deletionTimestamp?: unknown;
    labels?: Record<string, unknown>;
    annotations?: Record<string, unknown>;
  };
  const metas = items.map((i) => ((i as { metadata?: Meta }).metadata ?? {}) as Meta);
  const created = (m: Meta): number => (typeof m.creationTimestamp === "string" ? Date.parse(m.creationTimestamp) : NaN);
  const ownMeta = metas.find((m) => m.name === own);
  const now = ownMeta ? created(ownMeta) : NaN;
  if (Number.isNaN(now)) return `this run's namespace ${own} is not in the list, so the API server's time is unknown`;
  const left: LeftNamespace[] = [];
  const running: string[] = [];
  for (const m of metas) {
    if (typeof m.name !== "string" || m.name === own || !OWN_NAMESPACE.test(m.name) || m.labels?.[LABEL] !== LABEL_VALUE) continue;
    if (m.deletionTimestamp !== undefined && m.deletionTimestamp !== null) continue;
    const at = created(m);
    if (Number.isNaN(at)) continue;
    const declared = m.annotations?.[LIFETIME_ANNOTATION];
    const n = typeof declared === "string" && /^\d{1,9}$/.test(declared) ? Number(declared) : MAX_LIFETIME_SECONDS;
    const lifetimeSeconds = Math.min(n, MAX_LIFETIME_SECONDS);
    const ageSeconds = Math.floor((now - at) / 1000);
    if (ageSeconds > lifetimeSeconds) left.push({ name: m.name, ageSeconds, lifetimeSeconds });
    else running.push(m.name);
  }
  return { left, running };
}

function duration(seconds: number): string {
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)}m`;
  const minutes = Math.floor((seconds % 3600) / 60);
  return `${Math.floor(seconds / 3600)}h${minutes > 0 ? `${minutes}m` : ""}`;
}

// Namespaces of earlier runs that were killed before they could delete theirs: privileged,
// with root host-network pods on nodes. Never fails the check; what cannot be removed now is
// tried again by the next run.
async function sweepLeftNamespaces(own: string, deps: WireDeps): Promise<void> {
  const { kubectl, log } = deps;
  const r = await kubectl.run(["get", "namespaces", "-l", `${LABEL}=${LABEL_VALUE}`, "-o", "json"], { timeoutMs: 60_000 });
  if (r.code !== 0) {
    log(`wire check: cannot look for namespaces left by earlier runs: ${describeFailure(r)}`);
    return;
  }
  const found = leftNamespaces(r.stdout.toString("utf8"), own);
  if (typeof found === "string") {
    log(`wire check: cannot look for namespaces left by earlier runs: ${found}`);
    return;
  }
  if (found.running.length > 0) log(`wire check: namespace(s) of other runs still within their lifetime, left alone: ${found.running.join(", ")}`);
  if (found.left.length === 0) return;
  log(
    `wire check: deleting namespace(s) left by earlier runs that were stopped: ${found.left
      .map((n) => `${n.name} (created ${duration(n.ageSeconds)} ago, lifetime ${duration(n.lifetimeSeconds)})`)
      .join(", ")}`,
  );
  const del = await kubectl.run(["delete", "namespace", ...found.left.map((n) => n.name), "--ignore-not-found", "--wait=false"]);
  if (del.code !== 0) log(`wire check: could not delete them: ${describeFailure(del)}`);
}

async function deleteNamespace(run: UndoRun, namespace: string, log: (line: string) => void): Promise<void> {
  const del = await run(["delete", "namespace", namespace, "--ignore-not-found", "--wait=false"], { timeoutMs: 30_000 });
  log(del.code === 0 ? `wire check: deleted namespace ${namespace}` : `wire check: could not delete namespace ${namespace}: ${describeFailure(del)}`);
}

export interface WireDeps {
  // The captures run through kubectl.exec; every other command in a test pod through exec, which
  // backs off with the agent reads when the API server throttles.
  kubectl: Kubectl;
  exec(target: ExecTarget, command: readonly string[], opts?: { timeoutMs?: number }): Promise<KubectlResult>;
  sleep(ms: number): Promise<void>;
  now(): number;
  log(line: string): void;
  randomSuffix?: () => string;
  pairsInFlight?: number;
  // Removes the namespace if the run is stopped before it gets to.
  teardown?: Teardown;
}

export interface WireInput {
  args: VerifierArgs;
  cfg: CiliumConfig;
  nodes: readonly NodeInfo[];
  // CiliumInternalIPs per node when readable: IPsec may use them as ESP endpoints.
  internalIps: ReadonlyMap<string, string[]>;
  deadline: number;
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

export async function runWireCheck(input: WireInput, deps: WireDeps): Promise<WireResult> {
  const pairs = samplePairs(input.nodes);
  if (typeof pairs === "string") return { verdict: "error", reason: pairs, nodes: [] };
  const suffix = deps.randomSuffix ? deps.randomSuffix() : randomBytes(3).toString("hex");
  const namespace = `${NAMESPACE_PREFIX}${suffix}`;
  const { kubectl, log } = deps;
  const lifetime = namespaceLifetime(input.deadline - deps.now());
  log(
    `wire check: ${pairs.length} node pair(s) covering ${new Set(pairs.flatMap((p) => [p.client.name, p.server.name])).size} node(s), namespace ${namespace}`,
  );
  // Registered before it exists: a stop during the apply must still delete it.
  const removeNamespace = deps.teardown
    ? deps.teardown.add(`namespace ${namespace}`, (run) => deleteNamespace(run, namespace, log))
    : (run: UndoRun) => deleteNamespace(run, namespace, log);
  const applied = await kubectl.run(["apply", "-f", "-", "-o", "name"], {
    input: JSON.stringify(wireManifests(namespace, lifetime, pairs, input.args.workloadImage, input.args.captureImage)),
    timeoutMs: 120_000,
  });
  try {
    if (applied.code !== 0) return { verdict: "error", reason: `cannot create the test pods: ${describeFailure(applied)}`, nodes: [] };
    await sweepLeftNamespaces(namespace, deps);
    const expected = pairs.flatMap((p) => Object.values(podNames(p.index)));
    const pods = await waitForPods(namespace, expected, input.deadline, deps);
    if (typeof pods === "string") return { verdict: "error", reason: pods, nodes: [] };

    let checked = 0;
    let reported = deps.now();
    const results = await mapLimit(pairs, deps.pairsInFlight ?? pairsInFlight(input.args.concurrency), async (p) => {
      if (deps.now() >= input.deadline) {
        return [p.client, p.server].map((n, i) => failedSide(n, i === 0 ? "client" : "server", "not captured: the verification timeout ran out first"));
      }
      let sides = await checkPair(p, pods, namespace, input, deps);
      // A capture or request that failed (an exec stream cut on a busy API server, a pod slow to
      // answer) proves nothing either way: the pair is checked once more before it counts.
      const failed = sides.find((s) => s.verdict === "error");
      if (failed && deps.now() < input.deadline) {
        log(`wire check: pair ${p.client.name} -> ${p.server.name} once more: ${failed.reasons[0]?.slice(0, 200) ?? "error"}`);
        sides = await checkPair(p, pods, namespace, input, deps);
      }
      checked++;
      if (checked === pairs.length || deps.now() - reported >= PROGRESS_EVERY_MS) {
        reported = deps.now();
        log(`wire check: ${checked}/${pairs.length} pair(s) checked`);
      }
      return sides;
    });
    const nodes = results.flat();
    const errored = nodes.filter((n) => n.verdict === "error");
    const verdict: WireVerdict = errored.length > 0 && !nodes.some((n) => n.verdict === "plaintext") ? "inconclusive" : combineWire(nodes);
    return {
      verdict,
      positiveControl: nodeEncryptionOn(input, null)
        ? 'plaintext ping between the two nodes of each pair carrying the marker "cilium-enc-probe" must be captured on each node; not applicable to pairs of workers under WireGuard node encryption (node-to-node traffic is encrypted there, so ESP/WireGuard evidence is required instead)'
        : 'plaintext ping between the two nodes of each pair carrying the marker "cilium-enc-probe" must be captured on each node',
      nodes,
      reasons: [],
    };
  } catch (e) {
    if (e instanceof ClusterDataError) return { verdict: "error", reason: e.message, nodes: [] };
    throw e;
  } finally {
    await removeNamespace((a, o) => kubectl.run(a, o));
  }
}

function failedSide(node: NodeInfo, role: "client" | "server", reason: string, iface: string | null = null): WireNodeResult {
  return { node: node.name, role, interface: iface, verdict: "error", reasons: [reason], counts: null };
}

// WireGuard node encryption asserted, and (for a pair) both nodes workers: control-plane nodes
// opt out by default.
function nodeEncryptionOn(input: WireInput, pair: WirePair | null): boolean {
  const on = input.args.mode === "wireguard" && (input.args.nodeEncryption ?? input.cfg.nodeEncryption);
  return on && (pair === null || (!pair.client.controlPlane && !pair.server.controlPlane));
}

async function checkPair(pair: WirePair, pods: ReadonlyMap<string, PodInfo>, namespace: string, input: WireInput, deps: WireDeps): Promise<WireNodeResult[]> {
  const { kubectl, exec, log } = deps;
  const names = podNames(pair.index);
  const inPod = (pod: string): ExecTarget => ({ namespace, pod });
  // Test traffic in the IP families Cilium runs (its IPAM gives pods no other address; an address
  // of another family would come from outside Cilium and prove nothing about it).
  const cilium = (ips: readonly string[]): string[] => ips.filter((ip) => (ip.includes(":") ? input.cfg.ipv6 : input.cfg.ipv4));
  const server = { ips: cilium(pods.get(names.server)!.ips) };
  const client = { ips: cilium(pods.get(names.client)!.ips) };
  const sides = [
    { role: "client" as const, node: pair.client, peer: pair.server, pod: names.captureClient },
    { role: "server" as const, node: pair.server, peer: pair.client, pod: names.captureServer },
  ];
  const failAll = (reason: string, devices: Array<string | null> = [null, null]): WireNodeResult[] =>
    sides.map((s, i) => failedSide(s.node, s.role, reason, devices[i] ?? null));
  if (server.ips.length === 0 || client.ips.length === 0) {
    return failAll(
      `the test pods have no address in the IP families Cilium runs (${[input.cfg.ipv4 && "IPv4", input.cfg.ipv6 && "IPv6"].filter(Boolean).join(", ") || "none"})`,
    );
  }
  const nodeAddrs = (n: NodeInfo): string[] => [...n.internalIPs, ...(input.internalIps.get(n.name) ?? [])];
  const filter = captureFilter(nodeAddrs(pair.client), nodeAddrs(pair.server), client.ips, server.ips);

  const devices = await Promise.all(
    sides.map(async (s) => {
      const r = await exec(inPod(s.pod), ["ip", "-j", "route", "get", s.peer.internalIPs[0]!], { timeoutMs: 30_000 });
      return { dev: r.code === 0 ? parseRouteDevice(r.stdout.toString("utf8")) : null, r };
    }),
  );
  const noDevice = devices.findIndex((d) => !d.dev);
  if (noDevice >= 0) {
    const d = devices[noDevice]!;
    return failAll(
      `cannot find the egress interface on ${sides[noDevice]!.node.name}: ${d.r.code === 0 ? 'no device in "ip -j route get" output' : describeFailure(d.r)}`,
    );
  }
  const devs = devices.map((d) => d.dev!);

  const captures = sides.map((s, i) =>
    kubectl.exec(
      inPod(s.pod),
      ["timeout", "-s", "INT", String(CAPTURE_SECONDS), "tcpdump", "-i", devs[i]!, "-p", "-Q", "out", "-U", "-n", "-s", String(SNAPLEN), "-w", "-", filter],
      { timeoutMs: (CAPTURE_SECONDS + 30) * 1000 },
    ),
  );
  // Generous: a busy node or API server can take a while to start an exec.
  const listening = await Promise.all(captures.map((c) => c.waitForStderr(/listening on/, 60_000)));
  const notListening = listening.flatMap((ok, i) => (ok ? [] : [sides[i]!.node.name]));
  if (notListening.length > 0) {
    for (const c of captures) c.kill();
    const why = await Promise.all(captures.map((c) => c.done));
    return failAll(`tcpdump did not start on ${notListening.join(", ")}: ${why.map(describeFailure).join("; ")}`, devs);
  }

  const trafficErrors: string[] = [];
  for (const ip of server.ips) {
    const host = ip.includes(":") ? `[${ip}]` : ip;
    const urls = Array.from({ length: REQUESTS_PER_ADDRESS }, () => `http://${host}:${SERVER_PORT}/hostname`);
    const r = await exec(inPod(names.client), ["wget", "-q", "-O", "/dev/null", "-T", "5", ...urls], { timeoutMs: 60_000 });
    if (r.code !== 0) trafficErrors.push(`client to server ${ip}: ${describeFailure(r)}`);
  }
  await Promise.all(
    sides.map(async (s) => {
      const r = await exec(inPod(s.pod), ["ping", "-c", "3", "-i", "0.2", "-W", "2", "-p", CONTROL_MARKER.toString("hex"), s.peer.internalIPs[0]!], {
        timeoutMs: 30_000,
      });
      if (r.code !== 0) log(`wire check: control ping from ${s.node.name} failed (${describeFailure(r)})`);
    }),
  );
  // The traffic is done: stop the captures now rather than at their time limit. tcpdump ends
  // cleanly on SIGINT and flushes; a failed stop only means waiting for the limit.
  await Promise.all(sides.map((s) => exec(inPod(s.pod), ["pkill", "-INT", "-x", "tcpdump"], { timeoutMs: 30_000 })));
  const results = await Promise.all(captures.map((c) => c.done));
  if (trafficErrors.length > 0) return failAll(`test traffic between the pods failed: ${trafficErrors.slice(0, 3).join("; ")}`, devs);

  const nodeEncryption = nodeEncryptionOn(input, pair);
  const opts: ClassifyOptions = {
    mode: input.args.mode,
    tunnelPorts: new Map<number, "vxlan" | "geneve">([
      [8472, "vxlan"],
      [4789, "vxlan"],
      [6081, "geneve"],
      [input.cfg.tunnelPort, input.cfg.tunnelProtocol],
    ]),
    overlayMustBeEncrypted: input.args.mode === "wireguard" || atLeast(input.args.ciliumVersion, 18),
    hostTrafficMustBeEncrypted: nodeEncryption,
    podAddresses: [...client.ips, ...server.ips],
    podCidrs: input.nodes.flatMap((n) => n.podCIDRs),
    nodeAddresses: [...nodeAddrs(pair.client), ...nodeAddrs(pair.server)],
    controlMarker: nodeEncryption ? null : CONTROL_MARKER,
  };
  return sides.map((s, i) => {
    const r = results[i]!;
    // `timeout` exits 124 when it stopped tcpdump at the limit; 0 when pkill ended it first.
    if (r.code !== 0 && r.code !== 124) return failedSide(s.node, s.role, `tcpdump failed: ${describeFailure(r)}`, devs[i]!);
    try {
      const summary = summarizeCapture(new Uint8Array(r.stdout), opts);
      const judged = judgeCapture(summary, input.args.mode, !nodeEncryption);
      const { samples: _s, problems: _p, espSpis, ...counts } = summary;
      return {
        node: s.node.name,
        role: s.role,
        interface: devs[i]!,
        verdict: judged.verdict,
        reasons: judged.reasons,
        counts: { ...counts, espSpis: espSpis.map((x) => `0x${x.toString(16)}`) },
      };
    } catch (e) {
      return failedSide(s.node, s.role, `capture unreadable: ${(e as Error).message}`, devs[i]!);
    }
  });
}

// One list call per round, whatever the number of pairs.
async function waitForPods(namespace: string, names: readonly string[], deadline: number, deps: WireDeps): Promise<Map<string, PodInfo> | string> {
  const limit = Math.min(deadline, deps.now() + 180_000);
  const wanted = new Set(names);
  for (;;) {
    const r = await deps.kubectl.run(["-n", namespace, "get", "pods", "-l", `${LABEL}=${LABEL_VALUE}`, "-o", "json"], { timeoutMs: 60_000 });
    let last: string;
    if (r.code !== 0) {
      last = `pods not readable (${describeFailure(r)})`;
    } else {
      const ready = new Map<string, PodInfo>();
      const waiting: string[] = [];
      for (const p of parsePodList(r.stdout.toString("utf8"))) {
        if (!wanted.has(p.name)) continue;
        if (p.phase === "Failed" || p.phase === "Succeeded") return `test pod ${p.name} ended (${p.phase}) before the check`;
        if (p.ready && p.ips.length > 0) ready.set(p.name, p);
        else waiting.push(`${p.name} (${p.phase})`);
      }
      const missing = names.filter((n) => !ready.has(n) && !waiting.some((w) => w.startsWith(`${n} `)));
      if (waiting.length === 0 && missing.length === 0) return ready;
      const all = [...waiting, ...missing.map((n) => `${n} (not created)`)];
      last = `${all.slice(0, 5).join(", ")}${all.length > 5 ? ` and ${all.length - 5} more` : ""}`;
    }
    if (deps.now() >= limit) return `test pods not ready in time: ${last}`;
    deps.log(`wire check: waiting for test pods: ${last}`);
    await deps.sleep(2000);
  }
}

function parsePodList(json: string): PodInfo[] {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (e) {
    throw new ClusterDataError(`pod list is not JSON: ${(e as Error).message}`);
  }
  const items = (doc as { items?: unknown }).items;
  if (!Array.isArray(items)) throw new ClusterDataError("pod list has no items");
  return items.map((item) => parsePod(JSON.stringify(item)));
}
