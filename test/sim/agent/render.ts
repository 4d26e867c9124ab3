// What `cilium-dbg encrypt status` and `cilium-dbg status` print for an AgentView, per minor.
// Sources (per version in versions.ts): cilium-dbg/cmd/encrypt_status.go, cilium-dbg/cmd/status.go,
// cilium-dbg/cmd/helpers.go (Fatalf), pkg/client/client.go (FormatStatusResponse, Hint),
// pkg/command/output.go (PrintOutput), api/v1/models (field names, order, omitempty).
import { type GoJson, marshalIndent, padRight, tabwrite } from "./gofmt";
import { type AgentView, WG_IFACE } from "./model";
import { RULES } from "./versions";

export interface Output {
  stdout: string;
  stderr: string;
  code: number;
}

// pkg/defaults/defaults.go SockPath = RuntimePath + "/cilium.sock"; api/v1/client: host "localhost",
// base path "/v1", scheme http; GetHealthz is GET /healthz. The transport dials the unix socket,
// so the error is net/http's *url.Error around the dial error.
export function healthzError(v: AgentView): string {
  const errno = v.socketExists ? "connection refused" : "no such file or directory";
  return `Get "http://localhost/v1/healthz": dial unix /var/run/cilium/cilium.sock: connect: ${errno}`;
}

// The procfs XfrmStat struct (prometheus/procfs net_xfrm.go, v0.15.1 to v0.20.1: same fields).
export const XFRM_STAT_FIELDS = [
  "XfrmInError",
  "XfrmInBufferError",
  "XfrmInHdrError",
  "XfrmInNoStates",
  "XfrmInStateProtoError",
  "XfrmInStateModeError",
  "XfrmInStateSeqError",
  "XfrmInStateExpired",
  "XfrmInStateMismatch",
  "XfrmInStateInvalid",
  "XfrmInTmplMismatch",
  "XfrmInNoPols",
  "XfrmInPolBlock",
  "XfrmInPolError",
  "XfrmOutError",
  "XfrmOutBundleGenError",
  "XfrmOutBundleCheckError",
  "XfrmOutNoStates",
  "XfrmOutStateProtoError",
  "XfrmOutStateModeError",
  "XfrmOutStateSeqError",
  "XfrmOutStateExpired",
  "XfrmOutPolBlock",
  "XfrmOutPolDead",
  "XfrmOutPolError",
  "XfrmFwdHdrError",
  "XfrmOutStateInvalid",
  "XfrmAcquireError",
] as const;

interface IpsecStatus {
  decryptInterfaces: string[];
  errorCount: number;
  keysInUse: number;
  maxSeqNumber: string;
  xfrmErrors: Record<string, number>;
}

interface WgIface {
  listenPort?: number;
  name: string;
  peerCount: number;
  publicKey: string;
}

interface EncryptionStatus {
  ipsec?: IpsecStatus;
  mode: string;
  msg?: string;
  wireguard?: { interfaces: WgIface[]; optOutLabels?: string; nodeEncryption?: string };
}

// models.IPsecStatus: decrypt-interfaces (no omitempty), error-count, keys-in-use, max-seq-number,
// xfrm-errors (omitempty; map keys sorted by encoding/json).
function ipsecJson(s: IpsecStatus): GoJson {
  const o: Record<string, GoJson> = { "decrypt-interfaces": s.decryptInterfaces };
  if (s.errorCount !== 0) o["error-count"] = s.errorCount;
  if (s.keysInUse !== 0) o["keys-in-use"] = s.keysInUse;
  if (s.maxSeqNumber !== "") o["max-seq-number"] = s.maxSeqNumber;
  const names = Object.keys(s.xfrmErrors).sort();
  if (names.length > 0) o["xfrm-errors"] = Object.fromEntries(names.map((n) => [n, s.xfrmErrors[n]!]));
  return o;
}

// models.WireguardInterface: listen-port, name, peer-count, public-key omitempty; peers (no
// omitempty) is nil in every output simulated here (Status(false), dumpWireGuardStatus).
function wgIfaceJson(i: WgIface): GoJson {
  const o: Record<string, GoJson> = {};
  if (i.listenPort) o["listen-port"] = i.listenPort;
  o.name = i.name;
  if (i.peerCount !== 0) o["peer-count"] = i.peerCount;
  o.peers = null;
  if (i.publicKey !== "") o["public-key"] = i.publicKey;
  return o;
}

// models.EncryptionStatus: ipsec, mode, msg, wireguard (all omitempty); models.WireguardStatus:
// interfaces, node-encrypt-opt-out-labels (1.19.7+), node-encryption.
function encryptionJson(s: EncryptionStatus): GoJson {
  const o: Record<string, GoJson> = {};
  if (s.ipsec) o.ipsec = ipsecJson(s.ipsec);
  if (s.mode !== "") o.mode = s.mode;
  if (s.msg) o.msg = s.msg;
  if (s.wireguard) {
    const w: Record<string, GoJson> = { interfaces: s.wireguard.interfaces.map(wgIfaceJson) };
    if (s.wireguard.optOutLabels) w["node-encrypt-opt-out-labels"] = s.wireguard.optOutLabels;
    if (s.wireguard.nodeEncryption) w["node-encryption"] = s.wireguard.nodeEncryption;
    o.wireguard = w;
  }
  return o;
}

// pkg/command/output.go DumpJSONToString prints the document and returns "", which dumpJSON
// prints again: every `-o json` output ends with an empty line.
const printJson = (v: GoJson): string => `${marshalIndent(v)}\n\n`;

function kernelIpsec(v: AgentView): IpsecStatus | undefined {
  const k = v.kernel.ipsec;
  if (k === undefined) return undefined;
  const errorCount = Object.values(k.errors).reduce((a, b) => a + b, 0);
  return {
    decryptInterfaces: k.decryptInterfaces,
    errorCount,
    keysInUse: k.keys,
    // maxSequenceNumber: "N/A" when no state has sent anything.
    maxSeqNumber: k.maxSeq === 0 ? "N/A" : `0x${k.maxSeq.toString(16)}/${RULES[v.minor].seqSpace}`,
    xfrmErrors: k.errors,
  };
}

/** getEncryptionStatus of the view's minor. */
function encryptionStatus(v: AgentView): { status: EncryptionStatus } | { fatal: string } {
  if (RULES[v.minor].encryptStatus === "agent-first") {
    if (!v.reachable) return { fatal: `Cannot get daemon encryption status: ${healthzError(v)}` };
    if (v.mode === "IPsec") return { status: { mode: "IPsec", ipsec: kernelIpsec(v)! } };
    if (v.mode === "Wireguard" && v.wireguard) {
      // dumpWireGuardStatus copies name, public key and peer count from the agent's answer.
      const w = v.wireguard;
      return { status: { mode: "Wireguard", wireguard: { interfaces: [{ name: WG_IFACE, publicKey: w.publicKey, peerCount: w.peers }] } } };
    }
    return { status: { mode: "Disabled" } };
  }
  const status: EncryptionStatus = { mode: "" };
  const errs: string[] = [];
  const ipsec = kernelIpsec(v);
  // dumpIPsecStatus: no Cilium state (reqid 1) in the kernel -> no ipsec member.
  if (ipsec !== undefined && ipsec.keysInUse > 0) status.ipsec = ipsec;
  const kw = v.kernel.wireguard;
  if (kw !== undefined) {
    status.wireguard = { interfaces: [{ name: WG_IFACE, listenPort: kw.listenPort, publicKey: kw.publicKey, peerCount: kw.peers }] };
  }
  if (!v.reachable) errs.push(healthzError(v));
  else {
    status.mode = v.mode!;
    if (v.mode === "Wireguard") {
      // validateWireguardStates: the agent's and the kernel's cilium_wg0 must agree.
      if (kw === undefined) errs.push("wireguard state mismatch between kernel and agent: kernel state is empty");
      else if (v.wireguard && v.wireguard.peers !== kw.peers) {
        errs.push(
          `wireguard state mismatch between kernel and agent: interface "${WG_IFACE}": peer count mismatch (agent=${v.wireguard.peers}, kernel=${kw.peers})`,
        );
      }
    }
  }
  // errors.Join separates with newlines.
  if (errs.length > 0) status.msg = errs.join("\n");
  return { status };
}

function printEncryptionStatus(s: EncryptionStatus): string {
  let out = "";
  if (s.msg) out += `Msg: ${s.msg}\n`;
  out += `Encryption: ${padRight(s.mode, 26)}\n`;
  // 1.16.19-1.18.11 print by mode, 1.19.7+ by which members are set; 1.16-1.18 set a member only in its mode.
  if (s.ipsec) {
    out += `Decryption interface(s): ${s.ipsec.decryptInterfaces.join(", ")}\n`;
    out += `Keys in use: ${padRight(s.ipsec.keysInUse, 26)}\n`;
    out += `Max Seq. Number: ${s.ipsec.maxSeqNumber}\n`;
    out += `Errors: ${padRight(s.ipsec.errorCount, 26)}\n`;
    // A Go map ranges in random order; the simulator uses the procfs struct order.
    for (const name of XFRM_STAT_FIELDS) {
      const n = s.ipsec.xfrmErrors[name];
      if (n !== undefined) out += `\t${name}: ${padRight(n, 26)}\n`;
    }
  }
  if (s.wireguard) {
    for (const i of s.wireguard.interfaces) {
      out += `Interface: ${i.name}\n\tPublic key: ${i.publicKey}\n\tNumber of peers: ${i.peerCount}\n`;
    }
  }
  return out;
}

export function encryptStatus(v: AgentView, json: boolean): Output {
  const r = encryptionStatus(v);
  // cilium-dbg/cmd/helpers.go Fatalf: "Error: <msg>\n" on stderr, exit 1.
  if ("fatal" in r) return { stdout: "", stderr: `Error: ${r.fatal}\n`, code: 1 };
  return { stdout: json ? printJson(encryptionJson(r.status)) : printEncryptionStatus(r.status), stderr: "", code: 0 };
}

/** The `encryption` member of the agent's StatusResponse (the healthz "encryption" probe). */
function agentEncryption(v: AgentView): EncryptionStatus {
  if (v.mode === "Wireguard" && v.wireguard) {
    const w = v.wireguard;
    const wg: EncryptionStatus["wireguard"] = {
      interfaces: [{ name: WG_IFACE, listenPort: w.listenPort, publicKey: w.publicKey, peerCount: w.peers }],
      nodeEncryption: w.nodeEncryption,
    };
    if (RULES[v.minor].wgStatusHasOptOutLabels) wg.optOutLabels = w.optOutLabels;
    return { mode: "Wireguard", wireguard: wg };
  }
  return { mode: v.mode ?? "Disabled" };
}

/**
 * `cilium-dbg status`. The simulated StatusResponse carries only `encryption`: the other members
 * describe parts of the agent (kvstore, controllers, IPAM, version revision...) the simulator does
 * not model, and FormatStatusResponse prints its fallbacks for them (NodeMonitor, proxy, identity range).
 */
export function status(v: AgentView, json: boolean): Output {
  if (!v.reachable) {
    // statusDaemon: client.Hint(err) on stderr, exit 1 (the error names the socket path).
    return { stdout: "", stderr: `${healthzError(v)}\nIs the agent running?\n`, code: 1 };
  }
  const enc = agentEncryption(v);
  if (json) return { stdout: printJson({ encryption: encryptionJson(enc) }), stderr: "", code: 0 };
  const fields: string[] = [];
  if (enc.wireguard) {
    fields.push(`[NodeEncryption: ${enc.wireguard.nodeEncryption}`);
    const ifaces = enc.wireguard.interfaces.map((i) => `${i.name} (Pubkey: ${i.publicKey}, Port: ${i.listenPort}, Peers: ${i.peerCount})`);
    fields.push(`${ifaces.join(", ")}]`);
  }
  const text =
    "NodeMonitor:\tDisabled\n" +
    "Proxy Status:\tNo managed proxy redirect\n" +
    "Global Identity Range:\tUnknown\n" +
    `Encryption:\t${enc.mode}\t${fields.join(", ")}\n` +
    RULES[v.minor].clusterHealthLine;
  // statusDaemon: tabwriter.NewWriter(os.Stdout, 2, 0, 3, ' ', 0).
  return { stdout: tabwrite(text, 2, 3), stderr: "", code: 0 };
}
