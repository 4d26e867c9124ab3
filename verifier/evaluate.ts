import type { AgentStatusEncryption, EncryptionStatus, OutputFormat } from './agentStatus';
import { parseMaxSeq, XFRM_ERROR_NAMES } from './agentStatus';
import type { EncryptionMode } from './args';
import type { CiliumConfig, KeyExpectation } from './cluster';

export const WG_INTERFACE = 'cilium_wg0';

// Half the space leaves room for the rotation itself (old key kept for the rotation duration,
// 5 min by default) at any traffic rate seen in practice; exhaustion drops traffic (GH#22747).
export const SEQ_WARN_RATIO = 0.5;

export type NodeVerdict = 'ok' | 'rotating' | 'unverified' | 'fail';

export type Outcome<T> = { ok: true; value: T } | { ok: false; error: string };

export interface NodeObservation {
  node: string;
  pod: string | null;
  encrypt: Outcome<EncryptionStatus> | null;
  agentStatus: Outcome<AgentStatusEncryption> | null;
}

export interface Expectations {
  mode: EncryptionMode;
  nodeCount: number;
  keys: KeyExpectation | null;
  nodeEncryption: boolean | null;
}

export interface NodeResult {
  node: string;
  pod: string | null;
  verdict: NodeVerdict;
  mode: string | null;
  source: OutputFormat | null;
  ipsec?: {
    keysInUse: number;
    expectedKeys: number;
    maxSeqNumber: string | null;
    seqUsedPercent: number | null;
    errorCount: number;
    xfrmErrors: Record<string, number>;
  };
  wireguard?: {
    interface: string | null;
    peers: number | null;
    expectedPeers: number;
    nodeEncryption: string | null;
  };
  reasons: string[];
  warnings: string[];
}

// What each counter usually means, from Cilium's IPsec troubleshooting table.
const XFRM_HINTS: Record<string, string> = {
  XfrmInNoStates: 'no state to decrypt with: a node key changed after reboot or an old key was removed too early',
  XfrmInStateProtoError: 'key or anti-replay mismatch: a rotation without incrementing the SPI',
  XfrmOutStateSeqError: 'sequence number exhausted: rotate the key',
  XfrmOutPolBlock: 'packets dropped that would have left in plain text',
  XfrmFwdHdrError: 'route lookup failed after decryption (deleted pod) or memory pressure',
  XfrmInError: 'route lookup failed after decryption (deleted pod) or memory pressure',
  XfrmInStateInvalid: 'packet hit a state being deleted',
};

const MODE_NAMES: Record<EncryptionMode, string> = { ipsec: 'IPsec', wireguard: 'Wireguard' };

const RANK: Record<NodeVerdict, number> = { ok: 0, rotating: 1, unverified: 2, fail: 3 };

export function worst(verdicts: readonly NodeVerdict[]): NodeVerdict {
  return verdicts.reduce<NodeVerdict>((a, b) => (RANK[b] > RANK[a] ? b : a), 'ok');
}

export function describeXfrmErrors(errors: Record<string, number>): string {
  return Object.entries(errors)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, n]) => {
      if (XFRM_HINTS[name]) return `${name}=${n} (${XFRM_HINTS[name]})`;
      return XFRM_ERROR_NAMES.includes(name) ? `${name}=${n}` : `${name}=${n} (not a known XfrmStat counter)`;
    })
    .join(', ');
}

export function evaluateNode(obs: NodeObservation, exp: Expectations): NodeResult {
  const result: NodeResult = { node: obs.node, pod: obs.pod, verdict: 'ok', mode: null, source: null, reasons: [], warnings: [] };
  const verdicts: NodeVerdict[] = [];
  const problem = (v: NodeVerdict, reason: string): void => {
    verdicts.push(v);
    result.reasons.push(reason);
  };

  if (obs.pod === null || obs.encrypt === null) {
    problem('fail', 'no running Cilium agent on this node, so nothing encrypts its traffic');
    result.verdict = worst(verdicts);
    return result;
  }
  if (!obs.encrypt.ok) {
    problem('unverified', `could not read "cilium-dbg encrypt status": ${obs.encrypt.error}`);
    result.verdict = worst(verdicts);
    return result;
  }
  const st = obs.encrypt.value;
  result.mode = st.mode;
  result.source = st.format;
  const wanted = MODE_NAMES[exp.mode];
  if (st.mode.toLowerCase() !== wanted.toLowerCase()) {
    problem('fail', `encryption mode is ${st.mode}, expected ${wanted}${st.msg ? ` (agent says: ${st.msg})` : ''}`);
    result.verdict = worst(verdicts);
    return result;
  }
  if (st.msg) result.warnings.push(`agent message: ${st.msg}`);

  if (exp.mode === 'ipsec') {
    const keys = exp.keys!;
    if (!st.ipsec) {
      problem('fail', 'agent reports IPsec mode but no IPsec status');
    } else {
      const ip = st.ipsec;
      let seqUsedPercent: number | null = null;
      try {
        const seq = parseMaxSeq(ip.maxSeqNumber);
        if (seq) {
          // Basis points in bigint keep precision for 64-bit ESN counters too.
          seqUsedPercent = Number((seq.current * 10000n) / seq.limit) / 100;
          if (seqUsedPercent >= SEQ_WARN_RATIO * 100) {
            result.warnings.push(
              `IPsec sequence number ${ip.maxSeqNumber} is ${seqUsedPercent}% used: rotate the key soon (exhaustion gives XfrmOutStateSeqError and drops traffic)`,
            );
          }
        }
      } catch (e) {
        problem('unverified', (e as Error).message);
      }
      result.ipsec = {
        keysInUse: ip.keysInUse,
        expectedKeys: keys.steady,
        maxSeqNumber: ip.maxSeqNumber,
        seqUsedPercent,
        errorCount: ip.errorCount,
        xfrmErrors: ip.xfrmErrors,
      };
      const named = Object.keys(ip.xfrmErrors).length;
      if (ip.errorCount > 0 || named > 0) {
        problem('fail', `${ip.errorCount} XFRM error(s)${named ? `: ${describeXfrmErrors(ip.xfrmErrors)}` : ''}`);
      }
      if (ip.keysInUse === keys.steady) {
        // settled
      } else if (keys.steady > 0 && ip.keysInUse > keys.steady && ip.keysInUse <= 2 * keys.steady) {
        problem('rotating', `key rotation in progress: ${ip.keysInUse} keys in use, ${keys.steady} once settled (${keys.formula})`);
      } else {
        problem('fail', `${ip.keysInUse} IPsec keys in use, expected ${keys.steady} (${keys.formula}), or up to ${2 * keys.steady} during a rotation`);
      }
    }
  } else {
    const expectedPeers = Math.max(exp.nodeCount - 1, 0);
    const iface = st.wireguard?.interfaces.find((i) => i.name === WG_INTERFACE) ?? null;
    const nodeEnc = obs.agentStatus?.ok ? obs.agentStatus.value.nodeEncryption : null;
    result.wireguard = { interface: iface?.name ?? null, peers: iface?.peerCount ?? null, expectedPeers, nodeEncryption: nodeEnc };
    if (!iface) {
      problem('fail', `no ${WG_INTERFACE} interface in the agent's WireGuard status`);
    } else if (iface.peerCount !== expectedPeers) {
      problem('fail', `${WG_INTERFACE} has ${iface.peerCount} peer(s), expected ${expectedPeers} (nodes - 1)`);
    }
    if (exp.nodeEncryption !== null) {
      if (!obs.agentStatus || !obs.agentStatus.ok) {
        problem('unverified', `could not read node encryption from "cilium-dbg status": ${obs.agentStatus?.ok === false ? obs.agentStatus.error : 'not asked'}`);
      } else if (nodeEnc === null) {
        problem('unverified', '"cilium-dbg status" does not report NodeEncryption');
      } else if (exp.nodeEncryption) {
        if (nodeEnc === 'OptedOut') {
          result.warnings.push('node encryption opted out on this node (node-encryption-opt-out-labels, control-plane by default)');
        } else if (nodeEnc !== 'Enabled') {
          problem('fail', `node encryption is ${nodeEnc}, expected Enabled`);
        }
      } else if (nodeEnc !== 'Disabled') {
        problem('fail', `node encryption is ${nodeEnc}, expected Disabled`);
      }
    }
  }
  result.verdict = worst(verdicts);
  return result;
}

export interface ClusterExpectations {
  mode: EncryptionMode;
  nodeEncryption: boolean | null;
  strictMode: boolean | null;
}

// Checks on cilium-config itself: the agents read it at start, and a mismatch here is a
// misconfiguration even when every agent happens to look fine.
export function evaluateConfig(cfg: CiliumConfig, exp: ClusterExpectations): string[] {
  const reasons: string[] = [];
  if (exp.mode === 'ipsec') {
    if (!cfg.ipsecEnabled) reasons.push('cilium-config has enable-ipsec other than "true"');
    if (cfg.wireguardEnabled) reasons.push('cilium-config has enable-wireguard "true" in IPsec mode');
    if (!cfg.ipv4) reasons.push('cilium-config disables IPv4, which IPsec requires');
  } else {
    if (!cfg.wireguardEnabled) reasons.push('cilium-config has enable-wireguard other than "true"');
    if (cfg.ipsecEnabled) reasons.push('cilium-config has enable-ipsec "true" in WireGuard mode');
  }
  if (exp.nodeEncryption !== null && cfg.nodeEncryption !== exp.nodeEncryption) {
    reasons.push(`cilium-config encrypt-node is ${cfg.nodeEncryption}, expected ${exp.nodeEncryption}`);
  }
  if (exp.strictMode !== null && cfg.strictMode !== exp.strictMode) {
    reasons.push(`strict mode (${cfg.strictModeKeys.join(' / ')}) is ${cfg.strictMode}, expected ${exp.strictMode}`);
  }
  return reasons;
}
