import { agentErrorMessage, type EncryptionStatus, parseAgentStatus, parseEncryptStatus } from "./agentStatus";
import type { VerifierArgs } from "./args";
import {
  AGENT_CONTAINER,
  type AgentPod,
  type CiliumConfig,
  ClusterDataError,
  daemonSetRollout,
  expectedIpsecKeys,
  expectedWireguardPeers,
  ipsecKeysPerRemoteNode,
  type KnownNode,
  knownFromAgents,
  type NodeInfo,
  parseAgentPods,
  parseCiliumConfig,
  parseCiliumNodes,
  parseNodes,
  staleKeyIds,
} from "./cluster";
import { evaluateConfig, evaluateNode, type KeyIdContext, keyIdSince, type NodeContext, type NodeResult, type Outcome, type Read } from "./evaluate";
import { describeFailure, type ExecTarget, type Kubectl, type KubectlResult, type RunOptions } from "./kubectl";
import { buildReport, type ClusterSummary, type Range, type Report, type RunStats, type WireResult } from "./report";
import type { Teardown } from "./teardown";
import { runWireCheck, type WireInput } from "./wire";

export const DAEMONSET = "cilium";
export const AGENT_SELECTOR = "k8s-app=cilium";
const UNREACHABLE_RETRIES = 3;
const EXEC_TIMEOUT_MS = 30_000;
// Backoff after the API server answers 429: doubling from 1 s up to 30 s, for every caller at once.
const BACKOFF_START_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;
// kubectl's wording for HTTP 429 (k8s.io/apimachinery StatusReasonTooManyRequests).
const THROTTLED = /TooManyRequests|too many requests|status code 429|HTTP 429/i;
// The CiliumNode CRD is not served (Cilium's operator never ran): nothing can be known from it.
const NOT_SERVED = /doesn't have a resource type|the server could not find the requested resource/;
// kubectl's words when it cannot reach or log in to the API server with the kubeconfig it has:
// the connection settings are wrong (or the cluster is down), not the cluster's state.
const CONNECTION =
  /Unable to connect to the server|The connection to the server .* was refused|couldn't get current server API group list|dial tcp|no such host|i\/o timeout|TLS handshake timeout|x509: |tls: |You must be logged in to the server|\(Unauthorized\)|invalid configuration|no configuration has been provided|error loading config file|getting credentials/;

export interface RunDeps {
  kubectl: Kubectl;
  sleep(ms: number): Promise<void>;
  now(): number;
  log(line: string): void;
  wireCheck?: (input: WireInput) => Promise<WireResult>;
  // What the wire check creates in the cluster, removed however the run ends.
  teardown?: Teardown;
  // The settings that say how to reach the cluster, as a message should name them.
  connection?: string;
}

class Unverifiable extends Error {}

async function mapLimit<T>(items: readonly T[], limit: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

// Every kubectl call goes through one gate: when the API server throttles any of them, all wait.
class ThrottleGate {
  private notBefore = 0;
  private backoff = 0;
  throttled = 0;

  constructor(
    private readonly deps: RunDeps,
    private readonly deadline: number,
  ) {}

  run(argv: readonly string[], opts?: RunOptions): Promise<KubectlResult> {
    return this.call(() => this.deps.kubectl.run(argv, opts));
  }

  exec(target: ExecTarget, command: readonly string[], opts?: Omit<RunOptions, "input">): Promise<KubectlResult> {
    return this.call(() => this.deps.kubectl.exec(target, command, opts).done);
  }

  private async call(attempt: () => Promise<KubectlResult>): Promise<KubectlResult> {
    for (;;) {
      const wait = this.notBefore - this.deps.now();
      if (wait > 0) await this.deps.sleep(wait);
      const r = await attempt();
      if (r.code === 0 || !THROTTLED.test(r.stderr)) {
        this.backoff = 0;
        return r;
      }
      this.throttled++;
      this.backoff = Math.min(Math.max(BACKOFF_START_MS, this.backoff * 2), BACKOFF_MAX_MS);
      if (this.deps.now() + this.backoff >= this.deadline) return r;
      const until = this.deps.now() + this.backoff;
      if (until > this.notBefore) {
        this.notBefore = until;
        this.deps.log(`the API server is throttling requests (429); waiting ${this.backoff / 1000}s`);
      }
    }
  }
}

function range(values: readonly number[]): Range | null {
  return values.length === 0 ? null : { min: Math.min(...values), max: Math.max(...values) };
}

export async function verify(args: VerifierArgs, deps: RunDeps): Promise<Report> {
  const started = deps.now();
  const deadline = started + args.timeoutSeconds * 1000;
  const gate = new ThrottleGate(deps, deadline);
  const { log } = deps;
  const ns = ["-n", args.namespace];
  const base = { mode: args.mode, ciliumVersion: args.ciliumVersion.text, namespace: args.namespace, checkedAt: new Date(started) };
  const warnings: string[] = [];
  const stats: RunStats = { rounds: 0, agentQueries: 0, throttled: 0, concurrency: args.concurrency, durationSeconds: 0 };
  let cluster: ClusterSummary | null = null;
  let configProblems: string[] = [];
  let nodeResults: NodeResult[] = [];
  const finish = (wire: WireResult, error: string | null): Report => {
    stats.throttled = gate.throttled;
    stats.durationSeconds = Math.round((deps.now() - started) / 100) / 10;
    return buildReport({ ...base, cluster, configProblems, nodes: nodeResults, wire, error, warnings, stats });
  };

  const get = async (what: string, argv: string[]): Promise<string> => {
    for (let attempt = 1; ; attempt++) {
      const r = await gate.run(argv);
      if (r.code === 0) return r.stdout.toString("utf8");
      if (/NotFound|not found/.test(r.stderr)) throw new Unverifiable(`${what} not found: ${describeFailure(r)}`);
      if (attempt >= UNREACHABLE_RETRIES || deps.now() >= deadline) {
        if (CONNECTION.test(r.stderr)) {
          throw new Unverifiable(`cannot reach the cluster's API server (check ${deps.connection ?? "--kubeconfig and --context"}): ${describeFailure(r)}`);
        }
        throw new Unverifiable(`cannot read ${what}: ${describeFailure(r)}`);
      }
      log(`cannot read ${what} (${describeFailure(r)}), retrying`);
      await deps.sleep(Math.min(2000, args.pollIntervalSeconds * 1000));
    }
  };

  try {
    for (;;) {
      const state = daemonSetRollout(await get(`DaemonSet ${args.namespace}/${DAEMONSET}`, [...ns, "get", "daemonset", DAEMONSET, "-o", "json"]));
      log(state.message);
      if (state.done) break;
      if (deps.now() >= deadline) {
        const pods = parseAgentPods(await get("agent pods", [...ns, "get", "pods", "-l", AGENT_SELECTOR, "-o", "json"]));
        const notReady = pods.filter((p) => !p.agentReady).map((p) => `${p.node ?? "(unscheduled)"} (${p.name}, ${p.phase})`);
        throw new Unverifiable(
          `Cilium agent rollout did not finish within ${args.timeoutSeconds}s: ${state.message}${notReady.length ? `; agents not ready: ${notReady.slice(0, 10).join(", ")}${notReady.length > 10 ? ` and ${notReady.length - 10} more` : ""}` : ""}`,
        );
      }
      await deps.sleep(args.pollIntervalSeconds * 1000);
    }

    const nodes = parseNodes(await get("nodes", ["get", "nodes", "-o", "json"]));
    const pods = parseAgentPods(await get("agent pods", [...ns, "get", "pods", "-l", AGENT_SELECTOR, "-o", "json"]));
    const cfg = parseCiliumConfig(
      await get(`ConfigMap ${args.namespace}/cilium-config`, [...ns, "get", "configmap", "cilium-config", "-o", "json"]),
      args.ciliumVersion,
    );
    if (nodes.length === 0) throw new Unverifiable("the cluster has no nodes");
    configProblems = evaluateConfig(cfg, { mode: args.mode, version: args.ciliumVersion, nodeEncryption: args.nodeEncryption, strictMode: args.strictMode });

    const agentOf = new Map<string, AgentPod>();
    for (const p of pods) {
      if (p.node && p.phase === "Running" && p.agentReady && !p.deleting) agentOf.set(p.node, p);
    }
    const withAgent = nodes.filter((n) => agentOf.has(n.name));
    // A ready agent has registered its CiliumNode (pkg/nodediscovery, before the agent reports ready),
    // but right after a rollout the list read here can lag behind the pods: wait for it rather than
    // expect keys and peers from a partial view of the cluster.
    let knownNodes = await readKnownNodes(gate, cfg, withAgent, warnings, log);
    const unlisted = () => withAgent.filter((n) => !knownNodes.known.some((k) => k.name === n.name)).map((n) => n.name);
    while (knownNodes.knownFrom === "CiliumNode" && unlisted().length > 0 && deps.now() + args.pollIntervalSeconds * 1000 < deadline) {
      log(`waiting for the CiliumNodes of ${unlisted().slice(0, 10).join(", ")}`);
      await deps.sleep(args.pollIntervalSeconds * 1000);
      knownNodes = await readKnownNodes(gate, cfg, withAgent, [], log);
    }
    const { known, knownFrom, internalIps, keyIds } = knownNodes;
    const announced = args.keyId === null ? null : { ids: keyIds, at: deps.now(), expected: args.keyId, keyWatcher: cfg.ipsecKeyWatcher };
    const stale =
      args.keyId !== null && keyIds !== null
        ? staleKeyIds(
            keyIds,
            nodes.map((n) => n.name),
            args.keyId,
          )
        : [];
    if (stale.length > 0) {
      warnings.push(
        `${stale.length} CiliumNode(s) without a Kubernetes Node announce another key id than ${args.keyId}: ${stale.slice(0, 5).join(", ")}${stale.length > 5 ? ` and ${stale.length - 5} more` : ""}`,
      );
    }
    if (cfg.clusterId > 0) {
      warnings.push(
        `cluster-id is ${cfg.clusterId} (Cluster Mesh possible): nodes of other clusters hold keys and peers too, so agents must have at least the local CiliumNodes' share`,
      );
    }
    const keysFor = args.mode === "ipsec" ? expectedIpsecKeys(cfg, args.ciliumVersion, known) : null;
    const peersFor = args.mode === "wireguard" ? expectedWireguardPeers(cfg, known) : null;
    const ctx = (node: string): NodeContext => ({
      mode: args.mode,
      version: args.ciliumVersion,
      keys: keysFor?.(node) ?? null,
      peers: peersFor?.(node) ?? null,
      nodeEncryption: args.nodeEncryption,
      keyId: null,
    });
    cluster = {
      nodeCount: nodes.length,
      agentCount: withAgent.length,
      knownNodes: known.length,
      knownFrom,
      clusterId: cfg.clusterId,
      ipFamilies: [cfg.ipv4 ? "ipv4" : null, cfg.ipv6 ? "ipv6" : null].filter((f): f is string => f !== null),
      routingMode: cfg.routingMode,
      tunnelProtocol: cfg.routingMode === "tunnel" ? cfg.tunnelProtocol : null,
      ipam: cfg.ipam,
      keysPerRemoteNode: args.mode === "ipsec" ? ipsecKeysPerRemoteNode(cfg, args.ciliumVersion) : null,
      expectedKeys: keysFor ? range(withAgent.map((n) => keysFor(n.name).steady)) : null,
      expectedPeers: peersFor ? range(withAgent.map((n) => peersFor(n.name).steady)) : null,
      expectedKeyId: args.keyId,
      rule: cfg.clusterId > 0 ? "at least" : "exactly",
      configRead: cfg.read,
    };
    log(
      `cluster: ${nodes.length} node(s), ${withAgent.length} with a ready Cilium agent, ${known.length} known to Cilium; ${cluster.ipFamilies.join("+")}, ${cfg.routingMode}`,
    );

    nodeResults = await pollAgents(args, deps, gate, nodes, agentOf, ctx, deadline, stats, announced);

    let wire: WireResult;
    if (!args.wireCheck) wire = { verdict: "skipped", reason: "--wire-check off" };
    else if (withAgent.length < 2) wire = { verdict: "not-applicable", reason: "fewer than two nodes with a Cilium agent: no inter-node traffic to encrypt" };
    else {
      const input: WireInput = { args, cfg, nodes: withAgent, internalIps, deadline };
      wire = deps.wireCheck
        ? await deps.wireCheck(input)
        : await runWireCheck(input, {
            ...deps,
            kubectl: {
              run: (a, o) => gate.run(a, o),
              start: (a, o) => deps.kubectl.start(a, o),
              exec: (t, c, o) => deps.kubectl.exec(t, c, o),
              close: () => undefined,
            },
            exec: (t, c, o) => gate.exec(t, c, o),
          });
    }
    return finish(wire, null);
  } catch (e) {
    if (!(e instanceof Unverifiable) && !(e instanceof ClusterDataError)) throw e;
    return finish({ verdict: "skipped", reason: "verification stopped before the wire check" }, (e as Error).message);
  }
}

async function readKnownNodes(
  gate: ThrottleGate,
  cfg: CiliumConfig,
  withAgent: readonly NodeInfo[],
  warnings: string[],
  log: (l: string) => void,
): Promise<{ known: KnownNode[]; knownFrom: ClusterSummary["knownFrom"]; internalIps: Map<string, string[]>; keyIds: Map<string, number> | null }> {
  const r = await gate.run(["get", "ciliumnodes", "-o", "json"]);
  if (r.code === 0) {
    const { known, internalIps, keyIds } = parseCiliumNodes(r.stdout.toString("utf8"));
    return { known, knownFrom: "CiliumNode", internalIps, keyIds };
  }
  if (!NOT_SERVED.test(r.stderr)) throw new Unverifiable(`cannot read CiliumNodes, which say what each agent must hold: ${describeFailure(r)}`);
  const note = "the CiliumNode API is not served, so the expected keys and peers count the nodes with a ready agent instead of the nodes Cilium knows";
  warnings.push(note);
  log(note);
  return {
    known: knownFromAgents(
      withAgent.map((n) => n.name),
      cfg,
    ),
    knownFrom: "agent pods",
    internalIps: new Map(),
    keyIds: null,
  };
}

// --key-id: the key ids the CiliumNodes announced at the start (null: the API is not served).
interface AnnouncedKeyIds {
  ids: ReadonlyMap<string, number> | null;
  at: number;
  expected: number;
  keyWatcher: boolean;
}

// A later list of the key ids; null when it cannot be read this time (the last one still stands).
async function listKeyIds(gate: ThrottleGate, log: (l: string) => void): Promise<Map<string, number> | null> {
  const r = await gate.run(["get", "ciliumnodes", "-o", "json"]);
  if (r.code !== 0) {
    log(`cannot read CiliumNodes (${describeFailure(r)}); the key ids read before stand`);
    return null;
  }
  try {
    return parseCiliumNodes(r.stdout.toString("utf8")).keyIds;
  } catch (e) {
    log(`${(e as Error).message}; the key ids read before stand`);
    return null;
  }
}

// Asks the agents in rounds: at most one exec per agent per round, at most --concurrency at once,
// and only the agents whose verdict is still pending (a rotation settling, XFRM counters that need
// a second read or are still growing, an agent that did not answer yet). With --key-id, one
// CiliumNode list per round while a pending node announces another key id.
async function pollAgents(
  args: VerifierArgs,
  deps: RunDeps,
  gate: ThrottleGate,
  nodes: readonly NodeInfo[],
  agentOf: ReadonlyMap<string, AgentPod>,
  ctx: (node: string) => NodeContext,
  deadline: number,
  stats: RunStats,
  announced: AnnouncedKeyIds | null,
): Promise<NodeResult[]> {
  let ids = announced?.ids ?? null;
  let since = announced && ids ? keyIdSince(new Map(), ids, announced.expected, announced.at) : new Map<string, number>();
  const keyIdOf = (node: string): KeyIdContext | null =>
    announced && {
      expected: announced.expected,
      announced: ids === null ? "not served" : (ids.get(node) ?? null),
      since: since.get(node) ?? null,
      keyWatcher: announced.keyWatcher,
    };
  const behind = (node: string): boolean => {
    const k = keyIdOf(node);
    return k !== null && k.announced !== "not served" && k.announced !== k.expected;
  };
  const nodeCtx = (node: string): NodeContext => ({ ...ctx(node), keyId: keyIdOf(node) });
  const results = new Map<string, NodeResult>();
  const reads = new Map<string, Read[]>();
  for (const n of nodes) {
    const pod = agentOf.get(n.name);
    if (!pod) results.set(n.name, evaluateNode(n.name, null, [], nodeCtx(n.name), true));
    else reads.set(n.name, []);
  }
  let pending = nodes.filter((n) => reads.has(n.name));
  for (let round = 1; pending.length > 0; round++) {
    stats.rounds++;
    let listedAt: number | null = null;
    if (announced && round > 1 && pending.some((n) => behind(n.name))) {
      const fresh = await listKeyIds(gate, deps.log);
      if (fresh !== null) {
        listedAt = deps.now();
        ids = fresh;
        since = keyIdSince(since, fresh, announced.expected, listedAt);
      }
    }
    // The first round asks every agent. Later ones skip an agent that announces another key id (its
    // states are the old key's) or announced the expected one only in this round's list: up to
    // 1.18 the id is announced just before the new key's states are installed (cilium v1.18.11
    // pkg/datapath/linux/ipsec/ipsec_linux.go keyfileWatcher: SetIPsecKeyIdentity, then
    // AllNodeValidateImplementation), so the next round reads them.
    const ask = round === 1 ? pending : pending.filter((n) => !behind(n.name) && (listedAt === null || since.get(n.name) !== listedAt));
    await mapLimit(ask, args.concurrency, async (n) => {
      reads.get(n.name)!.push(await readAgent(args, deps, gate, agentOf.get(n.name)!.name));
      stats.agentQueries++;
    });
    const final = deps.now() + args.pollIntervalSeconds * 1000 > deadline;
    for (const n of pending) results.set(n.name, evaluateNode(n.name, agentOf.get(n.name)!.name, reads.get(n.name)!, nodeCtx(n.name), final));
    pending = pending.filter((n) => results.get(n.name)!.verdict === "pending");
    if (pending.length === 0 || final) break;
    const shown = pending
      .slice(0, 5)
      .map((n) => `${n.name} (${results.get(n.name)!.reasons[0]})`)
      .join("; ");
    deps.log(`round ${stats.rounds}: ${pending.length} agent(s) to read again: ${shown}${pending.length > 5 ? ` and ${pending.length - 5} more` : ""}`);
    await deps.sleep(args.pollIntervalSeconds * 1000);
  }
  return nodes.map((n) => results.get(n.name)!);
}

// One read of one agent: `cilium-dbg encrypt status -o json` for IPsec (keys and XFRM counters
// come from the node's kernel), `cilium-dbg status -o json` for WireGuard (the only output with
// node encryption; its peer count is the agent's reading of cilium_wg0).
async function readAgent(args: VerifierArgs, deps: RunDeps, gate: ThrottleGate, pod: string): Promise<Read> {
  const command = args.mode === "ipsec" ? ["encrypt", "status", "-o", "json"] : ["status", "-o", "json"];
  const r = await gate.exec({ namespace: args.namespace, pod, container: AGENT_CONTAINER }, ["cilium-dbg", ...command], { timeoutMs: EXEC_TIMEOUT_MS });
  const at = deps.now();
  if (r.code !== 0) return { at, outcome: { ok: false, error: r.timedOut ? describeFailure(r) : agentErrorMessage(r.stderr) || describeFailure(r) } };
  return { at, outcome: parseRead(args, r.stdout.toString("utf8")) };
}

function parseRead(args: VerifierArgs, stdout: string): Outcome<EncryptionStatus> {
  try {
    if (args.mode === "ipsec") return { ok: true, value: parseEncryptStatus(stdout) };
    const status = parseAgentStatus(stdout);
    if (status.encryption === null) {
      return { ok: false, error: `"cilium-dbg status" has no encryption member yet (agent state ${status.state ?? "unknown"})` };
    }
    return { ok: true, value: status.encryption };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}
