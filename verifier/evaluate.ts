import { atLeast, type CiliumVersion } from "../encryption/ciliumVersion";
import { type EncryptionStatus, maxSeqLimit } from "./agentStatus";
import type { EncryptionMode } from "./args";
import type { CiliumConfig, KeyExpectation, PeerExpectation } from "./cluster";

export const WG_INTERFACE = "cilium_wg0";

// How many failed reads in a row make an agent "not answering" rather than "busy".
const AGENT_ATTEMPTS = 3;

// ok and fail are final; pending asks for another read (rotation settling, counters growing,
// a transient agent error); unverified is final too, or what pending becomes at the deadline.
export type NodeVerdict = "ok" | "pending" | "unverified" | "fail";

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: string };

export interface Read {
  at: number;
  // IPsec: `encrypt status`; WireGuard: the encryption member of `status`.
  outcome: Outcome<EncryptionStatus>;
}

export interface NodeContext {
  mode: EncryptionMode;
  version: CiliumVersion;
  keys: KeyExpectation | null;
  peers: PeerExpectation | null;
  nodeEncryption: boolean | null;
  // IPsec with --key-id: the key id the node's CiliumNode announces.
  keyId: KeyIdContext | null;
}

// An agent announces the SPI of the key it has loaded as LocalNode.EncryptionKey, which node
// discovery writes into its CiliumNode as spec.encryption.key (pkg/nodediscovery/nodediscovery.go
// StartDiscovery and mutateNodeResource, v1.16.19-v1.20.2). The key file watcher
// (pkg/datapath/linux/ipsec/ipsec_linux.go keyfileWatcher) sets it on every load: v1.16.19-v1.18.11
// node.SetIPsecKeyIdentity(spi) just before installing the new key's states
// (AllNodeValidateImplementation); v1.19.7 publishPendingSPI and v1.20.2 publishCurrentSPI right
// after installing them, v1.20.2 after a jitter below keyRotationDuration/10. Until then the agent
// announces the old id and its states are the old key's, as many as once settled, so its key count
// alone cannot tell a finished rotation from one not started.
export interface KeyIdContext {
  expected: number;
  // spec.encryption.key of the node's CiliumNode (0 when absent); null: the node has no
  // CiliumNode; 'not served': the CiliumNode API is not served, so nothing can be read.
  announced: number | null | "not served";
  // When a CiliumNode list first showed the expected id: reads taken before it show the old key's states.
  since: number | null;
  keyWatcher: boolean;
}

export interface XfrmCounter {
  total: number;
  growth: number;
}

export interface NodeResult {
  node: string;
  pod: string | null;
  verdict: NodeVerdict;
  mode: string | null;
  reads: number;
  ipsec?: {
    keysInUse: number;
    expectedKeys: number;
    keyRule: "exactly" | "at least";
    maxSeqNumber: string | null;
    errorCount: number;
    // Totals are cumulative since the node booted; growth is what happened during this check.
    xfrm: Record<string, XfrmCounter>;
    observedSeconds: number;
  };
  wireguard?: {
    interface: string | null;
    peers: number | null;
    expectedPeers: number;
    peerRule: "exactly" | "at least";
    nodeEncryption: string | null;
  };
  reasons: string[];
  warnings: string[];
}

const MODE_NAMES: Record<EncryptionMode, string> = { ipsec: "IPsec", wireguard: "Wireguard" };

const RANK: Record<NodeVerdict, number> = { ok: 0, pending: 1, unverified: 2, fail: 3 };

export function worst(verdicts: readonly NodeVerdict[]): NodeVerdict {
  return verdicts.reduce<NodeVerdict>((a, b) => (RANK[b] > RANK[a] ? b : a), "ok");
}

// XFRM counters by what their growth means, after the table "known explanations for several XFRM
// errors" in Documentation/security/network/encryption-ipsec.rst (the same in v1.16.19 to v1.20.2).
// - fatal: a key, anti-replay or policy problem; any growth during the check fails the node.
// - benign: the kernel decrypted the packet and then could not route it (a deleted pod, memory
//   pressure), or hit a state being deleted (scale-down, upgrades): a warning, growing or not.
// - transient: expected while a rebooted node's new keys are deployed; a warning once it stops,
//   a failure if it is still growing when the verification ends. Counters the docs do not list
//   ("Linux subfeatures that Cilium doesn't use") are judged the same way.
export type XfrmClass = "fatal" | "benign" | "transient";

const XFRM_MEANING: Record<string, { cls: XfrmClass; meaning: string }> = {
  XfrmInStateProtoError: { cls: "fatal", meaning: "key or anti-replay sequence mismatch between nodes (a key changed without a new SPI): rotate the key" },
  XfrmInTmplMismatch: { cls: "fatal", meaning: "the XFRM configuration for decryption is wrong" },
  XfrmInNoPols: { cls: "fatal", meaning: "the XFRM configuration for decryption is wrong" },
  XfrmOutStateSeqError: { cls: "fatal", meaning: "an output sequence number reached its maximum: rotate the key" },
  XfrmOutPolBlock: { cls: "fatal", meaning: "packets dropped that would otherwise have left the node in plain text" },
  XfrmInError: { cls: "benign", meaning: "decrypted packets for a deleted pod, or memory pressure" },
  XfrmFwdHdrError: { cls: "benign", meaning: "decrypted packets for a deleted pod, or memory pressure" },
  XfrmInStateInvalid: { cls: "benign", meaning: "packets that hit a state being deleted (scale-down, upgrade)" },
  XfrmInNoStates: {
    cls: "transient",
    meaning: "no state to decrypt with: expected while a rebooted node's keys are deployed, otherwise keys missing or removed too early",
  },
  XfrmOutNoStates: { cls: "transient", meaning: "no state to encrypt with: expected while a rebooted node's keys are deployed, otherwise keys missing" },
};

export function xfrmMeaning(name: string): { cls: XfrmClass; meaning: string } {
  return XFRM_MEANING[name] ?? { cls: "transient", meaning: "not in Cilium's table of known explanations" };
}

function sameMode(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

export interface Part {
  verdict: NodeVerdict;
  reason?: string;
}

// Why a read holds no usable answer, or null when it does.
function unusable(o: Read["outcome"], ctx: NodeContext): string | null {
  if (!o.ok) return o.error;
  // 1.19+ (cilium-dbg/cmd/encrypt_status.go getEncryptionStatus): no mode means the agent did not
  // answer, and the socket error is in msg; an IPsec agent whose kernel state could not be read
  // prints no ipsec member and the error in msg.
  if (o.value.mode === null) return `agent did not answer: ${o.value.msg ?? "no mode and no message"}`;
  if (ctx.mode === "ipsec" && o.value.ipsec === null && o.value.msg !== null && sameMode(o.value.mode, MODE_NAMES.ipsec)) {
    return `no IPsec state read: ${o.value.msg}`;
  }
  return null;
}

// The trailing run of reads that did not get the agent's answer.
function trailingFailures(reads: readonly Read[], ctx: NodeContext): string[] {
  const out: string[] = [];
  for (let i = reads.length - 1; i >= 0; i--) {
    const why = unusable(reads[i]!.outcome, ctx);
    if (why === null) break;
    out.push(why);
  }
  return out;
}

function pendingOr(final: boolean, finalVerdict: NodeVerdict, reason: string, finalReason = reason): Part {
  return final ? { verdict: finalVerdict, reason: finalReason } : { verdict: "pending", reason };
}

// When each node was first seen announcing the expected key id, over successive CiliumNode lists;
// a node seen on another id (or without a CiliumNode) starts over.
export function keyIdSince(since: ReadonlyMap<string, number>, ids: ReadonlyMap<string, number>, expected: number, at: number): Map<string, number> {
  const next = new Map<string, number>();
  for (const [node, id] of ids) if (id === expected) next.set(node, since.get(node) ?? at);
  return next;
}

function announcedText(id: number): string {
  return id === 0 ? "no key id" : `key id ${id}`;
}

// Whether the node's agent is known to use the expected key, given its CiliumNode and the time of
// the agent's last read; null when it is.
export function judgeKeyId(k: KeyIdContext, lastReadAt: number | null, final: boolean): Part | null {
  const n = k.expected;
  if (k.announced === "not served") {
    return {
      verdict: "unverified",
      reason: `the CiliumNode API is not served, so the key id this node's agent uses (spec.encryption.key, expected ${n}) cannot be read`,
    };
  }
  if (k.announced === null) {
    return pendingOr(
      final,
      "unverified",
      `no CiliumNode for this node yet: the key id its agent uses (expected ${n}) cannot be read`,
      `no CiliumNode for this node: the key id its agent uses (expected ${n}) cannot be read`,
    );
  }
  const m = k.announced;
  if (m !== n) {
    if (!k.keyWatcher) {
      // ipsec_linux.go startKeyfileWatcher returns early without the watcher: the key file is read in Start only.
      return {
        verdict: "fail",
        reason: `announces ${announcedText(m)} in its CiliumNode (expected ${n}) and cilium-config has enable-ipsec-key-watcher "false": the agent reads the key file only when it starts, so it will not load the new key until it is restarted`,
      };
    }
    return pendingOr(
      final,
      "unverified",
      `announces ${announcedText(m)} in its CiliumNode, expected ${n}: waiting for the agent to load the new key`,
      `still announces ${announcedText(m)} (expected ${n}): the agent has not loaded the new key`,
    );
  }
  if (lastReadAt === null || k.since === null || lastReadAt < k.since) {
    return pendingOr(
      final,
      "unverified",
      `announces key id ${n} since the agent's last read: reading it again for the new key's states`,
      `announced key id ${n} only after the agent's last read: the new key's states were not read before the verification ended`,
    );
  }
  return null;
}

function judgeKeys(keys: number, exp: KeyExpectation, v: CiliumVersion, final: boolean): Part {
  const s = exp.steady;
  const allStates = !atLeast(v, 19)
    ? "; before 1.19 `cilium-dbg encrypt status` counts every XFRM state on the node, not only Cilium's (no reqid filter), so another IPsec user on the node raises the count"
    : "";
  if (keys < s) {
    // cilium v1.16.19 pkg/datapath/linux/ipsec/ipsec_linux.go getNodeIPsecKey: without `+` the
    // global key is used for every state, so a single key shows for all remote nodes.
    const plus =
      !atLeast(v, 17) && keys <= 2 && s > 2
        ? '; on 1.16 this is what a key line without "+" gives (one global key, no per-node-pair keys, 32-bit sequence numbers)'
        : "";
    return {
      verdict: "fail",
      reason: `${keys} IPsec keys in use, expected ${exp.atLeast ? "at least " : ""}${s} (${exp.formula}): states for some remote nodes are missing${plus}`,
    };
  }
  if (keys === s || exp.atLeast) return { verdict: "ok" };
  if (keys <= 2 * s) {
    return pendingOr(
      final,
      "unverified",
      `key rotation in progress: ${keys} keys in use, ${s} once settled (${exp.formula})`,
      `key rotation did not settle: ${keys} keys in use, ${s} once settled (${exp.formula})${allStates}`,
    );
  }
  return pendingOr(final, "unverified", `${keys} IPsec keys in use, expected ${s} (${exp.formula}), or up to ${2 * s} during a rotation${allStates}`);
}

function describeGrowth(name: string, c: XfrmCounter, seconds: number): string {
  return `${name} +${c.growth} (total ${c.total}) in ${Math.round(seconds)}s: ${xfrmMeaning(name).meaning}`;
}

interface XfrmJudgement {
  parts: Part[];
  warnings: string[];
  counters: Record<string, XfrmCounter>;
  seconds: number;
}

// Counters in /proc/net/xfrm_stat are cumulative since boot and never reset, so only their growth
// between reads taken during this check says something about now; a node whose counters are all
// zero needs no second read.
function judgeXfrm(series: ReadonlyArray<{ at: number; errors: Record<string, number> }>, final: boolean): XfrmJudgement {
  const first = series[0]!;
  const last = series[series.length - 1]!;
  const seconds = (last.at - first.at) / 1000;
  const names = [...new Set(series.flatMap((s) => Object.keys(s.errors)))].sort();
  const counters: Record<string, XfrmCounter> = {};
  const parts: Part[] = [];
  const warnings: string[] = [];
  if (series.length < 2) {
    // All zero: nothing was ever dropped since boot, which says more than any growth could.
    if (names.every((n) => (last.errors[n] ?? 0) === 0)) return { parts, warnings, counters, seconds };
    for (const n of names) counters[n] = { total: last.errors[n] ?? 0, growth: 0 };
    parts.push(
      pendingOr(
        final,
        "unverified",
        "XFRM counters are not zero: their growth needs a second read",
        "XFRM counters are not zero and were read only once before the verification ended: whether they grow is unknown",
      ),
    );
    return { parts, warnings, counters, seconds };
  }
  for (const name of names) {
    const values = series.map((s) => s.errors[name] ?? 0);
    const steps = values.slice(1).map((v, i) => v - values[i]!);
    const c = { total: values[values.length - 1]!, growth: values[values.length - 1]! - values[0]! };
    counters[name] = c;
    if (steps.some((d) => d < 0)) {
      // Only a reboot (a new network namespace) resets them.
      parts.push(pendingOr(final, "unverified", `XFRM counter ${name} went down between reads: the node restarted during the check`));
      continue;
    }
    if (c.growth === 0) continue;
    const { cls } = xfrmMeaning(name);
    if (cls === "fatal") {
      parts.push({ verdict: "fail", reason: `XFRM errors growing: ${describeGrowth(name, c, seconds)}` });
    } else if (cls === "benign") {
      warnings.push(`XFRM counter ${name} grew by ${c.growth} (total ${c.total}): ${xfrmMeaning(name).meaning}`);
    } else if (steps[steps.length - 1]! > 0) {
      parts.push(
        pendingOr(
          final,
          "fail",
          `XFRM counter ${name} is growing (${describeGrowth(name, c, seconds)}); reading again`,
          `XFRM counter ${name} kept growing until the verification ended: ${describeGrowth(name, c, seconds)}`,
        ),
      );
    } else {
      warnings.push(`XFRM counter ${name} grew by ${c.growth} (total ${c.total}) during the check, then stopped: ${xfrmMeaning(name).meaning}`);
    }
  }
  return { parts, warnings, counters, seconds };
}

function judgeIpsec(result: NodeResult, oks: ReadonlyArray<{ at: number; st: EncryptionStatus }>, ctx: NodeContext, final: boolean): Part[] {
  const v = ctx.version;
  const exp = ctx.keys!;
  const st = oks[oks.length - 1]!.st;
  // cilium v1.19.7 cilium-dbg/cmd/encrypt_status.go dumpIPsecStatus: no key in use (after the
  // reqid filter) returns nil, and the ipsec member is omitted. Up to 1.18 it is always printed.
  if (st.ipsec === null && !atLeast(v, 19)) {
    return [
      {
        verdict: "unverified",
        reason: `"cilium-dbg encrypt status" printed no ipsec member, which Cilium ${v.major}.${v.minor} always prints in IPsec mode: is the agent another version?`,
      },
    ];
  }
  const parts: Part[] = [];
  const ip = st.ipsec ?? { keysInUse: 0, maxSeqNumber: null, errorCount: 0, xfrmErrors: {}, decryptInterfaces: [] };
  try {
    const limit = maxSeqLimit(ip.maxSeqNumber);
    // 1.18 changed the printed limit to 64 bits; the number itself is the low 32 bits of an ESN
    // counter on every supported version, so it is never close to exhaustion.
    const printed64 = limit !== null && limit > 0xffffffffn;
    if (limit !== null && printed64 !== atLeast(v, 18)) {
      result.warnings.push(
        `the agent prints the sequence limit of Cilium ${printed64 ? "1.18 or later" : "1.17 or earlier"}, not of ${v.text}: is it running another version?`,
      );
    }
  } catch (e) {
    return [{ verdict: "unverified", reason: (e as Error).message }];
  }
  parts.push(judgeKeys(ip.keysInUse, exp, v, final));
  const x = judgeXfrm(
    oks.map((o) => ({ at: o.at, errors: o.st.ipsec?.xfrmErrors ?? {} })),
    final,
  );
  parts.push(...x.parts);
  result.warnings.push(...x.warnings);
  result.ipsec = {
    keysInUse: ip.keysInUse,
    expectedKeys: exp.steady,
    keyRule: exp.atLeast ? "at least" : "exactly",
    maxSeqNumber: ip.maxSeqNumber,
    errorCount: ip.errorCount,
    xfrm: x.counters,
    observedSeconds: x.seconds,
  };
  return parts;
}

function judgeWireguard(result: NodeResult, st: EncryptionStatus, ctx: NodeContext): Part[] {
  const exp = ctx.peers!;
  const parts: Part[] = [];
  const iface = st.wireguard?.interfaces.find((i) => i.name === WG_INTERFACE) ?? null;
  const nodeEnc = st.wireguard?.nodeEncryption ?? null;
  result.wireguard = {
    interface: iface?.name ?? null,
    peers: iface?.peerCount ?? null,
    expectedPeers: exp.steady,
    peerRule: exp.atLeast ? "at least" : "exactly",
    nodeEncryption: nodeEnc,
  };
  if (!iface) {
    parts.push({ verdict: "fail", reason: `no ${WG_INTERFACE} interface in the agent's WireGuard status${st.msg ? ` (agent says: ${st.msg})` : ""}` });
  } else if (iface.peerCount < exp.steady) {
    parts.push({
      verdict: "fail",
      reason: `${WG_INTERFACE} has ${iface.peerCount} peer(s), expected ${exp.atLeast ? "at least " : ""}${exp.steady} (the other CiliumNodes with a WireGuard key): traffic to the missing ones is not encrypted`,
    });
  } else if (iface.peerCount > exp.steady && !exp.atLeast) {
    result.warnings.push(`${WG_INTERFACE} has ${iface.peerCount} peers, ${exp.steady} CiliumNodes with a WireGuard key explain: a peer of a deleted node?`);
  }
  if (ctx.nodeEncryption !== null) {
    // pkg/wireguard/agent/agent.go Status: "Disabled", "Enabled" or "OptedOut".
    if (nodeEnc === null) {
      parts.push({ verdict: "unverified", reason: '"cilium-dbg status" does not report NodeEncryption' });
    } else if (ctx.nodeEncryption) {
      if (nodeEnc === "OptedOut") {
        result.warnings.push("node encryption opted out on this node (node-encryption-opt-out-labels, control-plane by default)");
      } else if (nodeEnc !== "Enabled") {
        parts.push({ verdict: "fail", reason: `node encryption is ${nodeEnc}, expected Enabled` });
      }
    } else if (nodeEnc !== "Disabled") {
      parts.push({ verdict: "fail", reason: `node encryption is ${nodeEnc}, expected Disabled` });
    }
  }
  return parts;
}

// Judges one node from the reads taken so far. `final`: no further read will come, so whatever
// is still pending becomes a verdict.
export function evaluateNode(node: string, pod: string | null, reads: readonly Read[], ctx: NodeContext, final: boolean): NodeResult {
  const result: NodeResult = { node, pod, verdict: "ok", mode: null, reads: reads.length, reasons: [], warnings: [] };
  // No agent fails the node whatever its CiliumNode says.
  const keyId = ctx.keyId === null || pod === null ? null : judgeKeyId(ctx.keyId, reads.at(-1)?.at ?? null, final);
  const finish = (judged: Part[]): NodeResult => {
    const parts = keyId === null ? judged : [keyId, ...judged];
    result.verdict = worst(parts.map((p) => p.verdict));
    // A settled verdict does not wait for anything: what would have been read again is moot.
    result.reasons = parts.filter((p) => p.reason !== undefined && (p.verdict !== "pending" || result.verdict === "pending")).map((p) => p.reason!);
    return result;
  };
  if (pod === null) return finish([{ verdict: "fail", reason: "no running Cilium agent on this node, so nothing encrypts its traffic" }]);
  if (reads.length === 0)
    return finish([pendingOr(final, "unverified", "the agent has not been asked yet", "the agent was never asked before the verification ended")]);
  const failures = trailingFailures(reads, ctx);
  if (failures.length > 0) {
    const command = ctx.mode === "ipsec" ? "cilium-dbg encrypt status" : "cilium-dbg status";
    return finish([pendingOr(final || failures.length >= AGENT_ATTEMPTS, "unverified", `could not read "${command}": ${failures[0]}`)]);
  }
  const oks = reads.flatMap((r) => (r.outcome.ok && unusable(r.outcome, ctx) === null ? [{ at: r.at, st: r.outcome.value }] : []));
  const st = oks[oks.length - 1]!.st;
  result.mode = st.mode;
  const wanted = MODE_NAMES[ctx.mode];
  if (!sameMode(st.mode!, wanted)) {
    return finish([{ verdict: "fail", reason: `encryption mode is ${st.mode}, expected ${wanted}${st.msg ? ` (agent says: ${st.msg})` : ""}` }]);
  }
  if (st.msg && ctx.mode === "ipsec") result.warnings.push(`agent message: ${st.msg}`);
  return finish(ctx.mode === "ipsec" ? judgeIpsec(result, oks, ctx, final) : judgeWireguard(result, st, ctx));
}

export interface ClusterExpectations {
  mode: EncryptionMode;
  version: CiliumVersion;
  nodeEncryption: boolean | null;
  strictMode: boolean | null;
}

// Checks on cilium-config itself: the agents read it at start, and a mismatch here is a
// misconfiguration even when every agent happens to look fine.
export function evaluateConfig(cfg: CiliumConfig, exp: ClusterExpectations): string[] {
  const reasons: string[] = [];
  if (exp.mode === "ipsec") {
    if (!cfg.ipsecEnabled) reasons.push('cilium-config has enable-ipsec other than "true"');
    if (cfg.wireguardEnabled) reasons.push('cilium-config has enable-wireguard "true" in IPsec mode');
    // cilium v1.17.16 daemon/cmd/daemon_main.go: "IPSec requires IPv4 addressing to be enabled"
    // (fatal at start); the check is gone from 1.18.
    if (!cfg.ipv4 && !atLeast(exp.version, 18)) reasons.push(`cilium-config disables IPv4, which IPsec requires before 1.18`);
  } else {
    if (!cfg.wireguardEnabled) reasons.push('cilium-config has enable-wireguard other than "true"');
    if (cfg.ipsecEnabled) reasons.push('cilium-config has enable-ipsec "true" in WireGuard mode');
  }
  if (exp.nodeEncryption !== null && cfg.nodeEncryption !== exp.nodeEncryption) {
    reasons.push(`cilium-config encrypt-node is ${cfg.nodeEncryption}, expected ${exp.nodeEncryption}`);
  }
  if (exp.strictMode !== null && cfg.strictMode !== exp.strictMode) {
    reasons.push(`strict mode (${cfg.strictModeKeys.join(" / ")}) is ${cfg.strictMode}, expected ${exp.strictMode}`);
  }
  return reasons;
}
