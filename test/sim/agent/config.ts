// The agent's view of the `cilium-config` ConfigMap (mounted as its config directory and read
// once at start). Key names and defaults: pkg/option/config.go and pkg/defaults/defaults.go of
// 1.16.19-1.18.11; from 1.19.7 the IPsec and WireGuard keys moved to
// pkg/datapath/linux/ipsec/cell.go and pkg/wireguard/agent/cell.go (same names, same defaults).
import type { Minor } from "./versions";

export interface AgentConfig {
  ipsec: boolean;
  wireguard: boolean;
  /** encrypt-node (default false). */
  encryptNode: boolean;
  ipv4: boolean;
  ipv6: boolean;
  routingMode: "tunnel" | "native";
  tunnelProtocol: string;
  ipam: string;
  /** Pod subnets given or derived (ENI/Azure): pkg/datapath/linux/ipsec.go subnetEncryption(). */
  subnetEncryption: boolean;
  ipsecKeyFile: string;
  keyWatcher: boolean;
  keyRotationMs: number;
  /** 1.16 only: enable-ipsec-encrypted-overlay. */
  encryptedOverlay: boolean;
  optOutLabels: string;
  /** Pass-through facts for the datapath simulator; the agent's outputs do not show them. */
  strictMode: { egress: { enabled: boolean; cidr: string; allowRemoteNodeIdentities: boolean }; ingress: { enabled: boolean } };
  /** Set when the agent refuses this configuration at start (it then exits). */
  fatal?: string;
}

// viper GetBool goes through cast.ToBool -> strconv.ParseBool; anything else is false.
function bool(v: string | undefined, dflt: boolean): boolean {
  if (v === undefined) return dflt;
  return ["1", "t", "T", "TRUE", "true", "True"].includes(v.trim());
}

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's time.ParseDuration, in ms; undefined when Go would refuse the string. */
export function parseGoDuration(s: string): number | undefined {
  let rest = s.trim();
  let sign = 1;
  if (rest.startsWith("-") || rest.startsWith("+")) {
    if (rest[0] === "-") sign = -1;
    rest = rest.slice(1);
  }
  if (rest === "0") return 0;
  if (rest === "") return undefined;
  let total = 0;
  while (rest !== "") {
    const m = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/.exec(rest);
    if (m === null) return undefined;
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return sign * total;
}

type Strict = AgentConfig["strictMode"]["egress"];

// 1.16.19-1.18.11 read enable-encryption-strict-mode and its cidr/allow keys. 1.19.7
// pkg/option/config.go still reads those first, then lets the -egress keys override;
// 1.20.2 knows only the -egress keys.
function strictEgress(minor: Minor, get: (k: string) => string | undefined): Strict {
  const old: Strict = {
    enabled: bool(get("enable-encryption-strict-mode"), false),
    cidr: get("encryption-strict-mode-cidr") ?? "",
    allowRemoteNodeIdentities: bool(get("encryption-strict-mode-allow-remote-node-identities"), false),
  };
  if (minor !== "1.19" && minor !== "1.20") return old;
  const egress: Strict = {
    enabled: bool(get("enable-encryption-strict-mode-egress"), false),
    cidr: get("encryption-strict-egress-cidr") ?? "",
    allowRemoteNodeIdentities: bool(get("encryption-strict-egress-allow-remote-node-identities"), false),
  };
  if (egress.enabled || minor === "1.20") return egress;
  return old.enabled ? old : egress;
}

export function agentConfig(minor: Minor, data: Record<string, string>): AgentConfig {
  const get = (k: string): string | undefined => data[k];
  const ipam = get("ipam") ?? "cluster-pool";
  const podSubnets = (get("ipv4-pod-subnets") ?? "").trim() !== "" || (get("ipv6-pod-subnets") ?? "").trim() !== "";
  const rotation = parseGoDuration(get("ipsec-key-rotation-duration") ?? "5m");
  const routing = get("routing-mode") ?? "tunnel";
  const cfg: AgentConfig = {
    ipsec: bool(get("enable-ipsec"), false),
    wireguard: bool(get("enable-wireguard"), false),
    encryptNode: bool(get("encrypt-node"), false),
    ipv4: bool(get("enable-ipv4"), true),
    ipv6: bool(get("enable-ipv6"), true),
    routingMode: routing === "native" ? "native" : "tunnel",
    tunnelProtocol: get("tunnel-protocol") ?? "vxlan",
    ipam,
    // pkg/datapath/linux/node.go NodeConfigurationChanged: ENI and Azure derive pod subnets.
    subnetEncryption: podSubnets || ipam === "eni" || ipam === "azure",
    ipsecKeyFile: get("ipsec-key-file") ?? "",
    keyWatcher: bool(get("enable-ipsec-key-watcher"), true),
    keyRotationMs: rotation ?? 300_000,
    encryptedOverlay: minor === "1.16" && bool(get("enable-ipsec-encrypted-overlay"), false),
    optOutLabels: get("node-encryption-opt-out-labels") ?? "node-role.kubernetes.io/control-plane",
    strictMode: {
      egress: strictEgress(minor, get),
      ingress: { enabled: (minor === "1.19" || minor === "1.20") && bool(get("enable-encryption-strict-mode-ingress"), false) },
    },
  };
  // pkg/option/config.go Validate (1.20.2).
  if (routing !== "native" && routing !== "tunnel") cfg.fatal = `invalid routing mode "${routing}", valid modes = {"tunnel", "native"}`;
  if (rotation === undefined) cfg.fatal = `invalid duration for ipsec-key-rotation-duration: "${get("ipsec-key-rotation-duration")}"`;
  // pkg/datapath/cells.go (1.16.19-1.18.11), daemon/cmd/daemon.go (1.19.7, 1.20.2).
  if (cfg.ipsec && cfg.wireguard) cfg.fatal = "WireGuard (--enable-wireguard) cannot be used with IPsec (--enable-ipsec)";
  return cfg;
}
