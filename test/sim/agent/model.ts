// What each simulated agent is doing at a given time, derived from the cluster's history as the
// simulator observed it (pods, the ConfigMap they started with, the key Secret over time, Nodes)
// and the faults injected per node. Pure: time is a parameter.
import { type AgentConfig, agentConfig } from "./config";
import { type KeyFacts, loadKeys, type ParsedKeyFile } from "./keyfile";
import { matches, parseSelector } from "./labels";
import { type Minor, RULES, TIMERS } from "./versions";

// ---------- inputs ----------

export interface NodeInfo {
  name: string;
  /** InternalIP addresses from Node.status.addresses, in order. */
  internalIPs: string[];
  labels: Record<string, string>;
  uid?: string;
  /** Node.spec.podCIDRs. */
  podCIDRs?: string[];
}

/** Where the agent's key file comes from: the secret volume mounted over `ipsec-key-file`. */
export type KeySource = { namespace: string; secret: string; key: string } | { missing: string };

export interface AgentPod {
  namespace: string;
  name: string;
  uid: string;
  node: string;
  minor: Minor;
  /** When the simulator first saw the pod bound to its node (the agent's start). */
  startMs: number;
  /** When the pod went away, if it did. */
  endMs?: number;
  /** `cilium-config` data as of the pod's start; undefined when the ConfigMap did not exist. */
  configData: Record<string, string> | undefined;
  /** The agent container's volume mounts, to resolve `ipsec-key-file` to a Secret key. */
  mounts: { mountPath: string; secret?: string; configMap?: string }[];
  /** The Node's labels when the agent started (it reads them once, at init). */
  nodeLabels?: Record<string, string>;
}

/** One observed version of a Secret: per data key, the file parsed by each minor's rules. */
export interface SecretVersion {
  atMs: number;
  /** undefined: the Secret does not exist (deleted or never created). */
  files: Map<string, Record<Minor, ParsedKeyFile>> | undefined;
}

export interface XfrmFault {
  initial: number;
  perSecond: number;
}

/** Faults injected on one node (test/sim/README.md "Faults"); `sinceMs` is when they were set. */
export interface NodeFaults {
  sinceMs: number;
  /** Identifies the fault file version it came from. */
  source?: string;
  agentDown?: boolean;
  mode?: "IPsec" | "Wireguard" | "Disabled";
  xfrmErrors?: Record<string, XfrmFault>;
  /** WireGuard peers (node names) absent from this node's cilium_wg0. */
  missingPeers?: string[];
  oseqOffset?: number;
}

export interface World {
  nodes: Map<string, NodeInfo>;
  /** Every agent pod ever seen, per node, oldest first. */
  podsByNode: Map<string, AgentPod[]>;
  /** Key Secret history by "namespace/name", oldest first. */
  secrets: Map<string, SecretVersion[]>;
  faults: Map<string, NodeFaults>;
  /** The node's WireGuard public key (cilium_wg0.key lives on the host, so it outlives pods). */
  wgPublicKey: (node: string) => string;
}

// ---------- rules that are not in Cilium's source ----------

/** Assumed background ESP traffic per outbound state (health probes etc.); Cilium fixes no rate. */
export const SEQ_PER_SECOND = 1;
/** Assumed native device of every simulated node (one device: the decryption interface). */
export const NATIVE_DEVICE = "eth0";

// pkg/wireguard/types/types.go (1.16.19-1.20.2): ListenPort = 51871, IfaceName = "cilium_wg0".
export const WG_PORT = 51871;
export const WG_IFACE = "cilium_wg0";

// ---------- outputs ----------

export interface KeyEpoch {
  spi: number;
  key: KeyFacts | undefined;
  cfg: AgentConfig;
  minor: Minor;
  fromMs: number;
  /** When a newer key replaced it (its removal clock starts). */
  replacedMs?: number;
  /** When the stale-key reclaimer deleted its states. */
  goneMs?: number;
}

export interface AgentRun {
  pod: AgentPod;
  cfg: AgentConfig;
  /** When the agent came up (after a crash loop, the first start that succeeded). */
  upMs?: number;
  /** Why it is not up (the error it exits with). */
  downReason?: string;
  /** When an injected fault took it down. */
  killedMs?: number;
  epochs: KeyEpoch[];
  /** Key file loads the agent refused while running (key watcher), newest last. */
  refusedLoads: { atMs: number; error: string }[];
}

export interface AgentView {
  node: string;
  pod: AgentPod;
  minor: Minor;
  cfg: AgentConfig;
  reachable: boolean;
  downReason?: string;
  /** Whether the agent's socket file exists (some agent on this node has served its API). */
  socketExists: boolean;
  mode?: "IPsec" | "Wireguard" | "Disabled";
  currentKey?: KeyFacts;
  kernel: {
    ipsec?: { keys: number; spis: number[]; maxSeq: number; errors: Record<string, number>; decryptInterfaces: string[]; epochs: KeyEpoch[] };
    wireguard?: { publicKey: string; listenPort: number; peers: number };
  };
  /** The agent's own WireGuard status (healthz), when it runs WireGuard. */
  wireguard?: { publicKey: string; listenPort: number; peers: number; nodeEncryption: "Disabled" | "Enabled" | "OptedOut"; optOutLabels: string };
}

// ---------- helpers ----------

const ipFamily = (ip: string): 4 | 6 => (ip.includes(":") ? 6 : 4);
const nodeIP = (n: NodeInfo | undefined, f: 4 | 6): string | undefined => n?.internalIPs.find((ip) => ipFamily(ip) === f);

function effectiveConfig(pod: AgentPod, faults: NodeFaults | undefined): AgentConfig {
  const cfg = agentConfig(pod.minor, pod.configData ?? {});
  if (faults?.mode !== undefined) {
    // "Wrong mode" is an agent that started with another encryption setting.
    cfg.ipsec = faults.mode === "IPsec";
    cfg.wireguard = faults.mode === "Wireguard";
    delete cfg.fatal;
  }
  return cfg;
}

/** Resolve `ipsec-key-file` through the agent's secret mounts. */
export function keySource(pod: AgentPod, keyFile: string): KeySource {
  if (keyFile === "") return { missing: "open : no such file or directory" };
  for (const m of pod.mounts) {
    const dir = m.mountPath.endsWith("/") ? m.mountPath : `${m.mountPath}/`;
    if (m.secret !== undefined && keyFile.startsWith(dir) && !keyFile.slice(dir.length).includes("/")) {
      return { namespace: pod.namespace, secret: m.secret, key: keyFile.slice(dir.length) };
    }
  }
  return { missing: `open ${keyFile}: no such file or directory` };
}

function versionAt(history: SecretVersion[] | undefined, t: number): SecretVersion | undefined {
  let v: SecretVersion | undefined;
  for (const h of history ?? []) if (h.atMs <= t) v = h;
  return v;
}

type FileAt = { ok: true; file: ParsedKeyFile } | { ok: false; error: string };

function fileAt(src: KeySource, world: World, minor: Minor, t: number): FileAt {
  if ("missing" in src) return { ok: false, error: src.missing };
  const v = versionAt(world.secrets.get(`${src.namespace}/${src.secret}`), t);
  const f = v?.files?.get(src.key);
  // A pod whose secret volume cannot be mounted never runs its container; the agent reports nothing.
  if (f === undefined) return { ok: false, error: `secret "${src.secret}" key "${src.key}" not found` };
  return { ok: true, file: f[minor] };
}

// Deterministic stand-in for rand.Int64N(maxJitter) so a run can be replayed.
function jitterMs(node: string, seq: number, maxMs: number): number {
  if (maxMs <= 0) return 0;
  let h = 2166136261;
  for (const ch of `${node}#${seq}`) h = Math.imul(h ^ ch.charCodeAt(0), 16777619) >>> 0;
  return h % Math.floor(maxMs);
}

// ---------- the agent's life ----------

/**
 * One agent pod's run up to time t: start (config, key file), crash loop while the key file is
 * refused, key watcher loads and the stale-key reclaimer.
 */
export function agentRun(pod: AgentPod, world: World, t: number, inherited: KeyEpoch[]): AgentRun {
  const faults = world.faults.get(pod.node);
  const cfg = effectiveConfig(pod, faults);
  const rules = RULES[pod.minor];
  const run: AgentRun = { pod, cfg, epochs: [], refusedLoads: [] };
  const end = Math.min(t, pod.endMs ?? Infinity);
  if (pod.configData === undefined) {
    run.downReason = "configuration directory has no cilium-config";
    return run;
  }
  if (cfg.fatal !== undefined) {
    run.downReason = cfg.fatal;
    return run;
  }
  if (!cfg.ipsec) {
    run.upMs = pod.startMs;
    return killed(run, faults, end);
  }
  const src = keySource(pod, cfg.ipsecKeyFile);
  const history = "missing" in src ? [] : (world.secrets.get(`${src.namespace}/${src.secret}`) ?? []);
  // Start, then one retry per Secret change while crash-looping (kubelet restarts the container;
  // the back-off delay is not simulated).
  const attempts = [pod.startMs, ...history.map((h) => h.atMs).filter((a) => a > pod.startMs && a <= end)];
  let key: KeyFacts | undefined;
  for (const at of attempts) {
    const f = fileAt(src, world, pod.minor, at);
    if (!f.ok) {
      run.downReason = f.error;
      continue;
    }
    // 1.16.19 LoadIPSecKeysFile / 1.20.2 agent.Start: a refused key file fails the start.
    const r = loadKeys(pod.minor, f.file, undefined);
    if (!r.ok) {
      run.downReason = r.panic ? r.error : `failed to load IPsec keys: ${r.error}`;
      continue;
    }
    run.upMs = at;
    delete run.downReason;
    key = r.key;
    break;
  }
  if (run.upMs === undefined) return run;
  const upMs = run.upMs;
  if (key !== undefined) run.epochs.push({ spi: key.spi, key, cfg, minor: pod.minor, fromMs: upMs });

  // Key watcher (ipsec_linux.go keyfileWatcher): every later change of the file is a load; 1.20.2
  // first waits a jitter in [0, rotation/10) and then reads whatever the file holds.
  if (cfg.keyWatcher) {
    let busyUntil = upMs;
    let seq = 0;
    for (const h of history) {
      if (h.atMs <= upMs) continue;
      const startLoad = Math.max(h.atMs, busyUntil);
      const at = startLoad + (rules.keyWatcherJitter ? jitterMs(pod.node, seq++, cfg.keyRotationMs / 10) : 0);
      busyUntil = at;
      if (at > end) break;
      const f = fileAt(src, world, pod.minor, at);
      if (!f.ok) {
        run.refusedLoads.push({ atMs: at, error: f.error });
        continue;
      }
      const r = loadKeys(pod.minor, f.file, key);
      if (!r.ok) {
        // The watcher logs the error, marks its health degraded and keeps the key it has.
        run.refusedLoads.push({ atMs: at, error: r.error });
        continue;
      }
      if (r.key === undefined || r.key === key) continue;
      const cur = run.epochs[run.epochs.length - 1];
      if (cur !== undefined && cur.spi === r.key.spi) {
        // 1.16.19 accepts a new key under the same SPI: states are replaced in place.
        cur.key = r.key;
      } else {
        if (cur !== undefined) cur.replacedMs = at;
        run.epochs.push({ spi: r.key.spi, key: r.key, cfg, minor: pod.minor, fromMs: at });
      }
      key = r.key;
    }
  }

  // States left by the previous agent on this node under another SPI are unknown to this one:
  // ipSecSPICanBeReclaimed starts their clock at the first reclaimer tick.
  const currentSpi = key?.spi;
  for (const e of inherited) {
    if (e.goneMs !== undefined || e.spi === currentSpi) continue;
    run.epochs.unshift({ ...e, replacedMs: upMs + TIMERS.staleKeyReclaimMs });
  }

  // Stale-key reclaimer: ticks every minute from start; deletes an SPI's states once
  // reclaimTimestamp - removalTime >= keyRotationDuration and it is not the current SPI.
  const stopMs = Math.min(end, faults?.agentDown ? Math.max(faults.sinceMs, upMs) : Infinity);
  for (const e of run.epochs) {
    if (e.replacedMs === undefined || e.spi === run.epochs[run.epochs.length - 1]?.spi) continue;
    const due = e.replacedMs + cfg.keyRotationMs;
    const tick = upMs + Math.max(1, Math.ceil((due - upMs) / TIMERS.staleKeyReclaimMs)) * TIMERS.staleKeyReclaimMs;
    if (tick <= stopMs) e.goneMs = tick;
  }
  return killed(run, faults, end);
}

function killed(run: AgentRun, faults: NodeFaults | undefined, end: number): AgentRun {
  if (faults?.agentDown && run.upMs !== undefined && faults.sinceMs <= end) {
    run.killedMs = Math.max(faults.sinceMs, run.upMs);
    run.downReason = "agent killed (fault injected)";
  }
  return run;
}

/** The agent runs on a node over time, oldest first, each carrying the XFRM states the previous one left. */
export function nodeRuns(node: string, world: World, t: number): AgentRun[] {
  const runs: AgentRun[] = [];
  let kernel: KeyEpoch[] = [];
  for (const pod of world.podsByNode.get(node) ?? []) {
    if (pod.startMs > t) break;
    const run = agentRun(pod, world, t, kernel);
    runs.push(run);
    if (run.upMs !== undefined && !run.cfg.ipsec) {
      // pkg/datapath/linux/node.go NodeConfigurationChanged: IPsec off -> DeleteXFRM(all reqids).
      kernel = [];
    } else if (run.upMs !== undefined) {
      kernel = run.epochs;
    }
  }
  return runs;
}

export interface Remote {
  node: NodeInfo;
  /** When its first agent came up: it then publishes its CiliumNode (boot ID, keys, addresses). */
  since: number;
  /** Its latest agent that came up (what it advertises: families, WireGuard key). */
  run: AgentRun;
}

/**
 * The nodes Cilium knows at time t: Nodes whose agent has come up at least once. The index does
 * not depend on which node asks, so callers can reuse it for every agent at the same instant.
 */
export function knownNodes(world: World, t: number): Map<string, Remote> {
  const out = new Map<string, Remote>();
  for (const [name, node] of world.nodes) {
    const up = nodeRuns(name, world, t).filter((r) => r.upMs !== undefined && r.upMs <= t);
    const first = up[0];
    const last = up[up.length - 1];
    if (first !== undefined && last !== undefined) out.set(name, { node, since: first.upMs!, run: last });
  }
  return out;
}

/**
 * Keys one agent installs toward one remote node, per pkg/datapath/linux/ipsec.go of its minor:
 * per IP family both ends run, an OUT and an IN state keyed per node pair (2); in subnet mode
 * (ENI/Azure) an OUT state plus IN states for both the CiliumInternalIP and NodeInternalIP
 * pairs (3); the encrypted overlay adds an OUT/IN pair between the node IPs (2) when both nodes
 * have an InternalIP of that family: 1.16.19 with enable-ipsec-encrypted-overlay (IPv4),
 * 1.17.16 in tunnel mode (IPv4), 1.18.11+ in tunnel mode (both families).
 */
export function keysTowards(minor: Minor, cfg: AgentConfig, local: NodeInfo | undefined, remote: NodeInfo, remoteCfg: AgentConfig): number {
  let n = 0;
  const overlay = RULES[minor].overlay;
  for (const f of [4, 6] as const) {
    const on = f === 4 ? cfg.ipv4 : cfg.ipv6;
    // enableIPsec: the remote needs a pod CIDR of the family (IPv4AllocCIDR / IPv6AllocCIDR).
    const remoteHas = f === 4 ? remoteCfg.ipv4 : remoteCfg.ipv6;
    if (!on || (!remoteHas && !cfg.subnetEncryption)) continue;
    if (cfg.subnetEncryption) {
      n += 3;
      continue;
    }
    n += 2;
    const overlayOn = overlay === "opt-in-ipv4" ? cfg.encryptedOverlay && f === 4 : cfg.routingMode === "tunnel" && (overlay === "tunnel-both" || f === 4);
    if (overlayOn && nodeIP(local, f) !== undefined && nodeIP(remote, f) !== undefined) n += 2;
  }
  return n;
}

function xfrmErrors(faults: NodeFaults | undefined, t: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, f] of Object.entries(faults?.xfrmErrors ?? {})) {
    const v = Math.floor(f.initial + (f.perSecond * Math.max(0, t - (faults?.sinceMs ?? t))) / 1000);
    if (v !== 0) out[name] = v;
  }
  return out;
}

/** Whether the node's labels opt it out of node encryption (pkg/wireguard/agent/agent.go initLocalNodeFromWireGuard). */
function optedOut(cfg: AgentConfig, labels: Record<string, string>): boolean {
  const sel = parseSelector(cfg.optOutLabels);
  return cfg.encryptNode && sel !== undefined && matches(sel, labels);
}

/**
 * Remote nodes in `node`'s cilium_wg0 at time t (pkg/wireguard/agent/node_handler.go nodeUpsert:
 * one peer per known remote node advertising a WireGuard public key), minus injected missing peers.
 */
export function wireguardPeers(node: string, world: World, t: number, known: Map<string, Remote>): string[] {
  const missing = new Set(world.faults.get(node)?.missingPeers ?? []);
  return [...known.values()].filter((p) => p.node.name !== node && p.run.cfg.wireguard && p.since <= t && !missing.has(p.node.name)).map((p) => p.node.name);
}

/** The agent on `node` at time t, as cilium-dbg in its pod would find it. */
export function agentView(node: string, world: World, t: number, known: Map<string, Remote> = knownNodes(world, t)): AgentView | undefined {
  const runs = nodeRuns(node, world, t);
  const run = runs[runs.length - 1];
  if (run === undefined) return undefined;
  const faults = world.faults.get(node);
  const local = world.nodes.get(node);
  const { pod, cfg } = run;
  const reachable = run.upMs !== undefined && run.upMs <= t && run.killedMs === undefined;
  const view: AgentView = {
    node,
    pod,
    minor: pod.minor,
    cfg,
    reachable,
    socketExists: runs.some((r) => r.upMs !== undefined),
    kernel: {},
  };
  if (!reachable) view.downReason = run.downReason ?? "agent not started";
  // A down agent's states stay in the kernel as its predecessor (or itself before the fault) left them.
  const kernelRun = reachable || run.killedMs !== undefined ? run : [...runs].reverse().find((r) => r.upMs !== undefined);
  // A stopped agent changes nothing in the kernel after it stopped.
  const at = Math.min(t, run.killedMs ?? Infinity, kernelRun?.pod.endMs ?? Infinity);
  const peers = [...known.values()].filter((r) => r.node.name !== node);

  if (kernelRun?.cfg.ipsec) {
    const present = kernelRun.epochs.filter((e) => e.fromMs <= at && (e.goneMs === undefined || e.goneMs > at));
    let keys = 0;
    let oldest = Infinity;
    for (const e of present) {
      // Remotes whose states this SPI got: known before the SPI was replaced.
      const rs = peers.filter((r) => r.since < (e.replacedMs ?? Infinity));
      if (e.key === undefined || !e.key.kernel.ok) continue;
      const perRemote = rs.map((r) => keysTowards(e.minor, e.cfg, local, r.node, r.run.cfg));
      const total = perRemote.reduce((a, b) => a + b, 0);
      if (total === 0) continue;
      // Without per-node keys (1.16 line without '+') every state carries the global key.
      keys += e.key.perNodeKeys ? total : 1;
      const first = Math.min(...rs.filter((_, i) => perRemote[i]! > 0).map((r) => r.since));
      oldest = Math.min(oldest, Math.max(e.fromMs, first));
    }
    const maxSeq = oldest === Infinity ? 0 : Math.floor(((at - oldest) * SEQ_PER_SECOND) / 1000) + (faults?.oseqOffset ?? 0);
    // cilium-dbg's isDecryptionInterface: native devices carry cil_from_netdev (all versions).
    const decryptInterfaces = [NATIVE_DEVICE];
    view.kernel.ipsec = { keys, spis: present.map((e) => e.spi), maxSeq, errors: xfrmErrors(faults, t), decryptInterfaces, epochs: present };
  }

  const wgPeers = wireguardPeers(node, world, at, known).length;
  if (kernelRun?.cfg.wireguard) {
    view.kernel.wireguard = { publicKey: world.wgPublicKey(node), listenPort: WG_PORT, peers: wgPeers };
  }

  if (!reachable) return view;
  const ipsecKey = run.epochs[run.epochs.length - 1]?.key;
  if (ipsecKey !== undefined && cfg.ipsec) view.currentKey = ipsecKey;
  // pkg/status/status_collector.go (1.18.11+) / daemon/cmd/status.go (1.16.19, 1.17.16) "encryption" probe.
  view.mode = cfg.ipsec ? "IPsec" : cfg.wireguard ? "Wireguard" : "Disabled";
  if (cfg.wireguard) {
    view.wireguard = {
      publicKey: world.wgPublicKey(node),
      listenPort: WG_PORT,
      peers: wgPeers,
      nodeEncryption: cfg.encryptNode ? (optedOut(cfg, pod.nodeLabels ?? local?.labels ?? {}) ? "OptedOut" : "Enabled") : "Disabled",
      optOutLabels: cfg.optOutLabels,
    };
  }
  return view;
}

/** How traffic from one node to another leaves the sender, for the datapath simulator. */
export interface PathFacts {
  from: string;
  to: string;
  /** What the sender puts on the wire for pod traffic to the receiver. */
  encryption: "ipsec" | "wireguard" | "none";
  reason: string;
  ipsec?: { spi: number; receiverHasState: boolean; sameKey: boolean };
  wireguard?: { receiverHasPeer: boolean };
}

function ipsecTowards(v: AgentView, remote: Remote | undefined, local: NodeInfo | undefined): KeyEpoch | undefined {
  const ep = v.kernel.ipsec?.epochs ?? [];
  // The datapath encrypts with the newest SPI it has states for (the BPF encrypt map's key).
  const active = ep[ep.length - 1];
  if (active === undefined || remote === undefined || active.key === undefined || !active.key.kernel.ok) return undefined;
  if (remote.since >= (active.replacedMs ?? Infinity)) return undefined;
  return keysTowards(active.minor, active.cfg, local, remote.node, remote.run.cfg) > 0 ? active : undefined;
}

export function pathFacts(from: string, to: string, world: World, t: number, known: Map<string, Remote> = knownNodes(world, t)): PathFacts {
  const a = agentView(from, world, t, known);
  const b = agentView(to, world, t, known);
  const none = (reason: string): PathFacts => ({ from, to, encryption: "none", reason });
  if (a === undefined) return none(`no agent has run on ${from}`);
  const out = ipsecTowards(a, known.get(to), world.nodes.get(from));
  if (out !== undefined) {
    const back = b?.kernel.ipsec?.epochs.find(
      (e) => e.spi === out.spi && e.key?.kernel.ok && known.get(from) !== undefined && known.get(from)!.since < (e.replacedMs ?? Infinity),
    );
    return {
      from,
      to,
      encryption: "ipsec",
      reason: `XFRM OUT states toward ${to} with SPI ${out.spi}`,
      ipsec: { spi: out.spi, receiverHasState: back !== undefined, sameKey: back?.key?.fingerprint === out.key?.fingerprint },
    };
  }
  if (a.kernel.wireguard !== undefined) {
    if (wireguardPeers(from, world, t, known).includes(to)) {
      return {
        from,
        to,
        encryption: "wireguard",
        reason: `${to} is a peer of ${from}'s ${WG_IFACE}`,
        wireguard: { receiverHasPeer: b !== undefined && wireguardPeers(to, world, t, known).includes(from) },
      };
    }
    return none(`${to} is not a peer of ${from}'s ${WG_IFACE}`);
  }
  if (a.kernel.ipsec !== undefined) return none(`no usable XFRM state toward ${to} on ${from}`);
  return none(`encryption is off on ${from}`);
}
