/**
 * What Cilium's chart and agent do with values beyond `encryption.*`, per minor: the agent options the
 * chart renders from the encryption values (which extraConfig, extraArgs or extraEnv must not
 * override behind the program's back), and the combinations the agent refuses to start with, so that
 * they fail the preview instead of a rollout.
 */
import type { CiliumVersion } from "./ciliumVersion";

export type Values = { [key: string]: unknown };
export type Mode = "ipsec" | "wireguard";

/**
 * Agent options set by the chart's ConfigMap from `encryption.*` values (templates/cilium-configmap.yaml
 * of cilium v1.16.19, v1.17.16, v1.18.11, v1.19.7, v1.20.2), plus the deprecated strict-mode options the
 * 1.19 agent still reads (cilium v1.19.7 pkg/option/config.go: enable-encryption-strict-mode is mapped
 * onto the egress settings).
 */
export function encryptionAgentOptions(version: CiliumVersion): Set<string> {
  const options = new Set([
    "enable-ipsec",
    "ipsec-key-file",
    "enable-ipsec-key-watcher",
    "ipsec-key-rotation-duration",
    "enable-wireguard",
    "wireguard-persistent-keepalive",
    "encrypt-node",
  ]);
  const add = (...names: string[]) => {
    for (const n of names) options.add(n);
  };
  // cilium v1.20.2 cilium-configmap.yaml no longer renders encrypt-interface or the encrypted overlay.
  if (version.minor <= 19) add("encrypt-interface", "enable-ipsec-encrypted-overlay");
  if (version.minor === 16) add("enable-wireguard-userspace-fallback");
  if (version.minor <= 19) {
    add("enable-encryption-strict-mode", "encryption-strict-mode-cidr", "encryption-strict-mode-allow-remote-node-identities");
  }
  if (version.minor >= 19) {
    add(
      "enable-ztunnel",
      "enable-encryption-strict-mode-egress",
      "encryption-strict-egress-cidr",
      "encryption-strict-egress-allow-remote-node-identities",
      "enable-encryption-strict-mode-ingress",
    );
  }
  if (version.minor >= 20) add("ztunnel-ca-type");
  return options;
}

/**
 * The agent reads each option from its flags, then `CILIUM_<OPTION>` in the environment, then the
 * ConfigMap (cilium v1.20.2 pkg/option/config.go getEnvName, pkg/hive/hive.go EnvPrefix "CILIUM_").
 */
export function agentEnvName(option: string): string {
  return `CILIUM_${option.replaceAll("-", "_").toUpperCase()}`;
}

const isObject = (v: unknown): v is Values => typeof v === "object" && v !== null && !Array.isArray(v);

function at(values: Values, path: string): unknown {
  let node: unknown = values;
  for (const part of path.split(".")) {
    if (!isObject(node)) return undefined;
    node = node[part];
  }
  return node;
}

/** Whether extraConfig sets the agent option itself; it is rendered after the chart's own keys and wins. */
function inExtraConfig(user: Values, option: string): boolean {
  const extra = at(user, "extraConfig");
  return isObject(extra) && extra[option] !== undefined && extra[option] !== null;
}

/** A setting as the agent will see it. */
function effective(user: Values, option: string, fromValues: () => unknown): string | undefined {
  const v = inExtraConfig(user, option) ? (at(user, "extraConfig") as Values)[option] : fromValues();
  return v === undefined || v === null ? undefined : String(v);
}

/** The value path to name in a message: the extraConfig entry when that is what sets the option. */
const source = (user: Values, option: string, valuePath: string) => (inExtraConfig(user, option) ? `extraConfig.${option}` : valuePath);

/** routing-mode as the chart renders it (cilium-configmap.yaml: v1.16–1.18 native only on GKE; from v1.19 also on ENI). */
export function routingMode(version: CiliumVersion, user: Values): string {
  return (
    effective(user, "routing-mode", () => {
      const set = at(user, "routingMode");
      if (typeof set === "string" && set !== "") return set;
      const native = at(user, "gke.enabled") === true || (version.minor >= 19 && at(user, "eni.enabled") === true);
      return native ? "native" : "tunnel";
    }) ?? "tunnel"
  );
}

/** ipam as the chart renders it: `coalesce .Values.ipam.mode`, overridden by eni/azure (cilium-configmap.yaml). */
function ipamMode(user: Values): string {
  return (
    effective(user, "ipam", () => {
      if (at(user, "eni.enabled") === true) return "eni";
      if (at(user, "azure.enabled") === true) return "azure";
      const mode = at(user, "ipam.mode");
      return typeof mode === "string" && mode !== "" ? mode : "cluster-pool";
    }) ?? "cluster-pool"
  );
}

/** extraConfig, extraArgs and extraEnv that would set an encryption option the program owns. */
export function agentOverrideProblems(version: CiliumVersion, user: Values, show: (v: unknown) => string): string[] {
  const owned = encryptionAgentOptions(version);
  const problems: string[] = [];
  const why = "the program sets it from the stack's encryption config, and the verifier checks what that config says";
  const extraConfig = at(user, "extraConfig");
  if (isObject(extraConfig)) {
    for (const [option, value] of Object.entries(extraConfig)) {
      if (owned.has(option))
        problems.push(`extraConfig.${option}: set to ${show(value)}, but this agent option is rendered from the encryption values; ${why}`);
    }
  }
  const extraArgs = at(user, "extraArgs");
  if (Array.isArray(extraArgs)) {
    extraArgs.forEach((arg, i) => {
      const flag = typeof arg === "string" ? /^--?([a-z0-9-]+)/.exec(arg)?.[1] : undefined;
      if (flag === undefined) return;
      if (owned.has(flag)) {
        problems.push(`extraArgs[${i}]: the agent flag --${flag} overrides the encryption values (flags win over the ConfigMap); ${why}`);
      } else if (flag === "config-dir") {
        problems.push(`extraArgs[${i}]: --config-dir replaces the ConfigMap the chart renders, encryption settings included; remove it`);
      }
    });
  }
  const extraEnv = at(user, "extraEnv");
  if (Array.isArray(extraEnv)) {
    extraEnv.forEach((entry, i) => {
      const name = isObject(entry) ? entry.name : undefined;
      const option = [...owned].find((o) => agentEnvName(o) === name);
      if (option !== undefined) {
        problems.push(`extraEnv[${i}]: ${String(name)} sets the agent option ${option} (the environment wins over the ConfigMap); ${why}`);
      }
    });
  }
  return problems;
}

/** Combinations with encryption that the agent refuses to start with, found before Helm rolls out. */
export function agentStartProblems(version: CiliumVersion, mode: Mode, user: Values): string[] {
  const problems: string[] = [];
  const truthy = (v: string | undefined) => v === "true";
  if (mode === "ipsec") {
    // cilium v1.16.19–v1.18.11 daemon/cmd/daemon_main.go, v1.19.7/v1.20.2 daemon/cmd/daemon.go:
    // "IPSec cannot be used with the host firewall."
    if (truthy(effective(user, "enable-host-firewall", () => at(user, "hostFirewall.enabled")))) {
      problems.push(
        `${source(user, "enable-host-firewall", "hostFirewall.enabled")}: Cilium agents refuse to start with the host firewall and IPsec together; turn one off (WireGuard works with the host firewall)`,
      );
    }
    const ipam = ipamMode(user);
    // cilium v1.16.19/v1.17.16 daemon/cmd/daemon_main.go: multi-pool IPAM refuses IPsec outright;
    // v1.18.11: "IPAM mode multi-pool with enable-ipsec is supported only in tunnel mode"; no check from v1.19.
    if (ipam === "multi-pool" && version.minor <= 17) {
      problems.push(
        `${source(user, "ipam", "ipam.mode")}: Cilium ${version.major}.${version.minor} agents refuse multi-pool IPAM with IPsec; use another IPAM mode, WireGuard, or Cilium 1.18 or later`,
      );
    } else if (ipam === "multi-pool" && version.minor === 18 && routingMode(version, user) !== "tunnel") {
      problems.push(
        `${source(user, "ipam", "ipam.mode")}: Cilium 1.18 agents accept multi-pool IPAM with IPsec only in tunnel mode, and the routing mode is native; use tunnel mode, WireGuard, or Cilium 1.19 or later`,
      );
    }
    // daemon_main.go (v1.16–v1.18) / daemon.go (v1.19–v1.20): "IPSec requires DNS proxy transparent mode
    // to be enabled" when the L7 proxy is on. The chart turns transparent mode on by default only
    // without CNI chaining (cilium-configmap.yaml), and the agent's own default is off.
    const l7 = effective(user, "enable-l7-proxy", () => at(user, "l7Proxy")) !== "false";
    // $cniChainingMode: cni.chainingMode, else "generic-veth" when cni.chainingTarget is set, else "none".
    const chainingMode = at(user, "cni.chainingMode") ?? ((at(user, "cni.chainingTarget") ?? null) === null ? "none" : "generic-veth");
    const transparent = effective(
      user,
      "dnsproxy-enable-transparent-mode",
      () => at(user, "dnsProxy.enableTransparentMode") ?? (chainingMode === "none" ? true : undefined),
    );
    if (l7 && !truthy(transparent)) {
      problems.push(
        `${source(user, "dnsproxy-enable-transparent-mode", "dnsProxy.enableTransparentMode")}: Cilium agents refuse IPsec with the L7 proxy unless the DNS proxy runs in transparent mode ` +
          "(off here, explicitly or because CNI chaining is on); set dnsProxy.enableTransparentMode: true",
      );
    }
  }
  // cilium v1.19.7 daemon/cmd/daemon.go: "Strict ingress encryption requires tunneling to be enabled." (gone in v1.20.2)
  if (mode === "wireguard" && at(user, "encryption.strictMode.ingress.enabled") === true && version.minor === 19 && routingMode(version, user) !== "tunnel") {
    problems.push("encryption.strictMode.ingress.enabled: Cilium 1.19 agents refuse strict ingress encryption without tunneling, and routingMode is native");
  }
  return problems;
}
