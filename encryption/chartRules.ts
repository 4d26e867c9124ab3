/**
 * What Cilium's chart and agent do with values beyond `encryption.*`, per minor: the agent options the
 * chart renders from the encryption values, the values that decide whether agents run and where they take
 * their configuration from (none of which may take the encryption settings away, by any route or in any
 * shape), the encryption types the chart renders, and the combinations the agent refuses to start with,
 * so that they fail the preview instead of a rollout.
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

/**
 * The extraConfig entry that sets an agent option, if any. It is rendered after the chart's own keys, and
 * the agent lowercases the keys of its configuration directory (cilium v1.16.19–v1.20.2
 * pkg/option/config.go MergeConfig → viper MergeConfigMap, viper v1.19.0–v1.21.0 util.go insensitiviseMap),
 * so any casing of the option's name sets it.
 */
function extraConfigEntry(user: Values, option: string): [string, unknown] | undefined {
  const extra = at(user, "extraConfig");
  if (!isObject(extra)) return undefined;
  const set = (k: string) => extra[k] !== undefined && extra[k] !== null;
  if (set(option)) return [option, extra[option]];
  const key = Object.keys(extra).find((k) => k.toLowerCase() === option && set(k));
  return key === undefined ? undefined : [key, extra[key]];
}

/** A setting as the agent will see it. */
function effective(user: Values, option: string, fromValues: () => unknown): string | undefined {
  const entry = extraConfigEntry(user, option);
  const v = entry === undefined ? fromValues() : entry[1];
  return v === undefined || v === null ? undefined : String(v);
}

/** The value path to name in a message: the extraConfig entry when that is what sets the option. */
const source = (user: Values, option: string, valuePath: string) => {
  const entry = extraConfigEntry(user, option);
  return entry === undefined ? valuePath : `extraConfig.${entry[0]}`;
};

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

// ---------------------------------------------------------------------------------------------------
// Values that decide whether agents run, where they take their configuration from, and which options
// they end up with. The program owns the encryption settings of the agents, so none of these may take
// them away, whatever the shape of the value. Facts are from cilium v1.16.19, v1.17.16, v1.18.11,
// v1.19.7 and v1.20.2: templates/cilium-agent/daemonset.yaml and templates/cilium-configmap.yaml of
// install/kubernetes/cilium, daemon/cmd, pkg/option/config.go, cilium-dbg/cmd/build-config.go.
// ---------------------------------------------------------------------------------------------------

type Show = (v: unknown) => string;

/** The directory the agent reads its options from: `--config-dir` in daemonset.yaml, the default `--dest` of build-config.go. */
export const AGENT_CONFIG_DIR = "/tmp/cilium/config-map";
/** `encryption.ipsec.mountPath` in values.yaml; the program refuses a user value for it, so the chart default holds. */
export const IPSEC_KEY_DIR = "/etc/ipsec";
/**
 * The agent also reads a configuration file `cilium.<ext>` from $HOME that replaces everything it merged from
 * its configuration directory (pkg/option/config.go InitConfig: SetConfigName("cilium"), AddConfigPath("$HOME"),
 * then ReadInConfig, which sets viper's whole config map; viper v1.19.0–v1.21.0 viper.go ReadInConfig and
 * SupportedExts). The image sets no HOME (images/cilium/Dockerfile), so the runtime's default for root applies
 * (runc v1.2.6 libcontainer/init_linux.go sets HOME from the user's passwd entry): /root in the Ubuntu base.
 */
export const AGENT_HOME = "/root";
export const AGENT_CONFIG_FILES = ["json", "toml", "yaml", "yml", "properties", "props", "prop", "hcl", "tfvars", "dotenv", "env", "ini"].map(
  (ext) => `${AGENT_HOME}/cilium.${ext}`,
);
/** Pod volumes that hold the agent's configuration directory: `tmp` (written by build-config) and, from 1.19, `cilium-config-path` (a ConfigMap mounted there). */
export const AGENT_CONFIG_VOLUMES = ["tmp", "cilium-config-path"];

/**
 * Agent flags that move its configuration source (daemon/cmd/daemon_main.go, pkg/option/config.go InitConfig):
 * --config-dir replaces the directory, --config reads a file that replaces what the directory set, and
 * --cmdref makes InitConfig return before reading either, so the agent runs on its defaults.
 */
const SOURCE_FLAGS: Record<string, string> = {
  "config-dir": "replaces the ConfigMap the chart renders, encryption settings included",
  config: "makes the agent read a configuration file that replaces its whole ConfigMap configuration, encryption settings included",
  cmdref: "makes the agent skip its configuration directory, so it runs on its defaults, without encryption",
};

/**
 * Environment variables that move the configuration source. extraEnv goes to the agent and to the `config`
 * init container (cilium-dbg build-config) alike (daemonset.yaml). Both bind every flag to CILIUM_<FLAG>
 * (pkg/option/config.go BindEnv, pkg/hive/hive.go EnvPrefix "CILIUM_"); build-config reads the ConfigMap
 * cilium-config from the namespace in CILIUM_K8S_NAMESPACE, which the chart sets to the pod's own.
 */
const SOURCE_ENV: Record<string, string> = {
  CILIUM_CONFIG_DIR: `is the agent's --config-dir, which ${SOURCE_FLAGS["config-dir"]}`,
  CILIUM_CONFIG: `is the agent's --config, which ${SOURCE_FLAGS.config}`,
  CILIUM_CMDREF: `is the agent's --cmdref, which ${SOURCE_FLAGS.cmdref}`,
  CILIUM_SOURCE:
    "is --source of the init container that builds the agent's configuration (cilium-dbg build-config): it replaces the ConfigMap the chart renders",
  CILIUM_DEST: "is --dest of the init container that builds the agent's configuration (cilium-dbg build-config): the agent would not find it",
  CILIUM_K8S_NAMESPACE:
    "is the namespace the init container that builds the agent's configuration reads the ConfigMap cilium-config from (cilium-dbg build-config); the chart sets it to the agents' own namespace",
  HOME: "decides where the agent looks for its configuration file cilium.<ext>, which replaces its whole ConfigMap configuration",
};

/** What a value the chart writes with toYaml straight into a manifest must be. */
export type Shape = "list of strings" | "list of objects" | "object of strings" | "object";

/**
 * Values that daemonset.yaml and cilium-configmap.yaml write with toYaml (or range over, one list item each)
 * straight into a list or mapping of the agent's pod or ConfigMap, without a key of their own. Helm checks
 * only their top-level type against values.schema.json (items: {}), and only at the update, so the program
 * checks their entries too and refuses any other shape before it changes anything. Checked against every
 * pinned chart in test/unit/ciliumCharts.test.ts.
 */
export function splicedValues(version: CiliumVersion): Map<string, { shape: Shape; into: string }> {
  const m = new Map<string, { shape: Shape; into: string }>([
    ["extraArgs", { shape: "list of strings", into: "the cilium-agent container's arguments" }],
    ["extraEnv", { shape: "list of objects", into: "the environment of the agent and its init containers" }],
    ["extraVolumeMounts", { shape: "list of objects", into: "the volume mounts of the agent and its init containers" }],
    ["extraHostPathMounts", { shape: "list of objects", into: "the agent's volume mounts and the pod's volumes" }],
    ["extraVolumes", { shape: "list of objects", into: "the agent pod's volumes" }],
    ["extraContainers", { shape: "list of objects", into: "the agent pod's containers" }],
    ["extraInitContainers", { shape: "list of objects", into: "the agent pod's init containers" }],
    ["extraConfig", { shape: "object of strings", into: "the data of the ConfigMap cilium-config" }],
    ["podAnnotations", { shape: "object of strings", into: "the agent pod's annotations" }],
    ["podLabels", { shape: "object of strings", into: "the agent pod's labels" }],
  ]);
  if (version.minor >= 17) m.set("commonLabels", { shape: "object of strings", into: "the labels of the agent DaemonSet and its pods" });
  if (version.minor >= 19) m.set("tmpVolume", { shape: "object", into: "the agent pod's volume `tmp`" });
  return m;
}

const kindOf = (v: unknown) =>
  v === null ? "null" : Array.isArray(v) ? "a list" : typeof v === "object" ? "an object" : `a ${typeof v === "bigint" ? "number" : typeof v}`;

/** A value at a dotted path of the user's values, or the first thing on the way that is not an object. */
function lookup(user: Values, path: string): { present: false } | { present: true; value: unknown } | { blockedAt: string } {
  const parts = path.split(".");
  let node: unknown = user;
  for (let i = 0; i < parts.length; i++) {
    if (!isObject(node)) return { blockedAt: parts.slice(0, i).join(".") };
    if (!Object.hasOwn(node, parts[i]!)) return { present: false };
    node = node[parts[i]!];
  }
  return { present: true, value: node };
}

/** A value the chart reads under `path`: undefined when the user leaves it alone, else the problem with it. */
function read(user: Values, path: string, problems: string[]): { value: unknown } | undefined {
  const found = lookup(user, path);
  if ("blockedAt" in found) {
    // Helm drops a null (the chart default goes too) and then fails on the field access, as on any non-object.
    const problem = `${found.blockedAt}: must be an object of chart values, got ${kindOf(at(user, found.blockedAt))}`;
    if (!problems.includes(problem)) problems.push(problem);
    return undefined;
  }
  return found.present ? { value: found.value } : undefined;
}

/**
 * daemonset.yaml renders the agent DaemonSet only `if and .Values.agent (not .Values.preflight.enabled)`
 * (cilium-configmap.yaml skips the ConfigMap under preflight.enabled too), and with sleepAfterInit runs a
 * sleep loop in place of cilium-agent. A null drops the chart default, so `agent: null` removes the agents.
 */
function agentPresenceProblems(user: Values, show: Show, problems: string[]): void {
  const agent = read(user, "agent", problems);
  if (agent !== undefined && agent.value !== true) {
    problems.push(
      `agent: set to ${show(agent.value)}; must be true or unset: the chart renders the Cilium agent DaemonSet only when agent is true, and without agents nothing is encrypted`,
    );
  }
  const preflight = read(user, "preflight.enabled", problems);
  if (preflight !== undefined && preflight.value !== false && preflight.value !== null) {
    problems.push(
      `preflight.enabled: set to ${show(preflight.value)}; must be false or unset: with it the chart renders the pre-flight check instead of the agent DaemonSet and its ConfigMap; run the pre-flight check as a release of its own`,
    );
  }
  const sleep = read(user, "sleepAfterInit", problems);
  if (sleep !== undefined && sleep.value !== false && sleep.value !== null) {
    problems.push(
      `sleepAfterInit: set to ${show(sleep.value)}; must be false or unset: with it the agent pods run a sleep loop instead of cilium-agent, so nothing is encrypted`,
    );
  }
}

/** Each entry of a list of strings or objects, or of an object of strings, that is not of its shape. */
function shapeProblems(version: CiliumVersion, user: Values, problems: string[]): void {
  for (const [path, { shape, into }] of splicedValues(version)) {
    const found = read(user, path, problems);
    if (found === undefined || found.value === null) continue;
    const { value } = found;
    const why = `the chart writes it as it is into ${into}, so anything else breaks the agent's manifests at the update, after other resources may have changed`;
    const list = shape.startsWith("list");
    if (list ? !Array.isArray(value) : !isObject(value)) {
      problems.push(`${path}: must be ${list ? "a" : "an"} ${shape}: ${why}; got ${kindOf(value)}`);
      continue;
    }
    const entries: Array<[string, unknown]> = list
      ? (value as unknown[]).map((v, i): [string, unknown] => [`${path}[${i}]`, v])
      : Object.entries(value as Values).map(([k, v]): [string, unknown] => [`${path}.${k}`, v]);
    const ok = shape === "list of objects" ? isObject : shape === "object" ? () => true : (v: unknown) => typeof v === "string" || (!list && v === null);
    for (const [where, entry] of entries) {
      if (!ok(entry))
        problems.push(
          `${where}: must be ${shape === "list of objects" ? "an object" : "a string"}, as ${path} is ${list ? "a" : "an"} ${shape}: ${why}; got ${kindOf(entry)}`,
        );
    }
  }
}

/**
 * daemon.configSources is the build-config `--source` list (a comma-separated string; the chart passes it
 * as one flag, pflag StringSlice splits it). Its default is the chart's ConfigMap cilium-config, then the
 * CiliumNodeConfig objects of the agents' namespace (build-config.go defaultBuildConfigCfg); later sources
 * override earlier ones (pkg/option/resolver/resolver.go ResolveConfigurations). A list that does not start
 * with the chart's ConfigMap replaces it, and a `node` source lets node annotations override it, so only
 * the default sources are allowed. allowedConfigOverrides/blockedConfigOverrides only narrow what later
 * sources may override.
 */
function configSourceProblems(user: Values, show: Show, problems: string[]): void {
  const sources = read(user, "daemon.configSources", problems);
  if (sources !== undefined && sources.value !== null) {
    const entries = typeof sources.value === "string" ? sources.value.split(",").filter((s) => s !== "") : undefined;
    const ok =
      entries !== undefined &&
      entries.length > 0 &&
      ["config-map", "config-map:", "config-map:cilium-config"].includes(entries[0]!) &&
      entries.slice(1).every((s) => s === "cilium-node-config" || s.startsWith("cilium-node-config:"));
    if (!ok) {
      problems.push(
        `daemon.configSources: set to ${show(sources.value)}; allowed: unset, or "config-map:cilium-config" optionally followed by "cilium-node-config[:<namespace>]" entries (the chart's default sources): ` +
          "agents take their configuration from these sources in order, so another first source replaces the ConfigMap the chart renders with the encryption settings, and other sources can override them",
      );
    }
  }
  for (const key of ["daemon.allowedConfigOverrides", "daemon.blockedConfigOverrides"]) {
    const found = read(user, key, problems);
    if (found !== undefined && found.value !== null && typeof found.value !== "string") {
      problems.push(
        `${key}: must be a comma-separated string of ConfigMap keys or null (the chart passes it to cilium-dbg build-config as one flag); got ${kindOf(found.value)}`,
      );
    }
  }
  // cilium v1.19.7/v1.20.2 daemonset.yaml: tmpVolume replaces the emptyDir `tmp`, where build-config writes
  // the configuration directory; WriteConfigurations (resolver.go) leaves files it did not write, so a
  // volume that outlives the pod keeps stale options that win over the ConfigMap.
  const tmp = read(user, "tmpVolume", problems);
  if (tmp !== undefined && isObject(tmp.value) && Object.keys(tmp.value).some((k) => k !== "emptyDir")) {
    problems.push(
      "tmpVolume: must be an emptyDir volume ({emptyDir: {...}}) or unset: it holds the agent's configuration directory, and a volume that keeps files across restarts lets stale files override the ConfigMap",
    );
  }
}

type Flag = { option: string; exact: boolean };

/** The agent option a command-line argument names, as pflag would read `--name` or `--name=value`; any spelling the agent might be meant to take. */
function flagOf(arg: string): Flag | undefined {
  const m = /^(-{1,2})([^=]+)/.exec(arg);
  if (m === null || m[2]!.startsWith("-")) return undefined;
  const option = m[2]!.toLowerCase();
  return { option, exact: m[1] === "--" && m[2] === option };
}

/** A mount path at, above or inside a path the agent reads its configuration or key from. */
function covers(mountPath: string, protectedPath: string, isDir: boolean): boolean {
  if (mountPath === "/") return true;
  return mountPath === protectedPath || protectedPath.startsWith(`${mountPath}/`) || (isDir && mountPath.startsWith(`${protectedPath}/`));
}

/** Resolves "." and ".." and repeated or trailing slashes as the container runtime does; undefined for a relative path. */
function normalisePath(p: string): string | undefined {
  if (!p.startsWith("/")) return undefined;
  const out: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return `/${out.join("/")}`;
}

function mountProblems(mode: Mode, user: Values, problems: string[]): void {
  const guarded: Array<[string, boolean, string]> = [
    [AGENT_CONFIG_DIR, true, "the agent's configuration directory"],
    ...AGENT_CONFIG_FILES.map((f): [string, boolean, string] => [f, false, "a configuration file the agent reads over its ConfigMap"]),
    // daemonset.yaml mounts the key Secret there only for IPsec.
    ...(mode === "ipsec" ? [[IPSEC_KEY_DIR, true, "the IPsec key the program manages"] as [string, boolean, string]] : []),
  ];
  // extraVolumeMounts go to the agent and its init containers, extraHostPathMounts to the agent (daemonset.yaml).
  for (const list of ["extraVolumeMounts", "extraHostPathMounts"]) {
    const mounts = at(user, list);
    if (!Array.isArray(mounts)) continue;
    mounts.forEach((mount, i) => {
      if (!isObject(mount)) return;
      const where = `${list}[${i}].mountPath`;
      if (typeof mount.mountPath !== "string") {
        problems.push(`${where}: must be an absolute path (a string), got ${mount.mountPath === undefined ? "none" : kindOf(mount.mountPath)}`);
        return;
      }
      const path = normalisePath(mount.mountPath);
      if (path === undefined) {
        problems.push(`${where}: must be an absolute path: the program cannot tell what a relative one covers`);
        return;
      }
      const hit = guarded.find(([p, isDir]) => covers(path, p, isDir));
      if (hit !== undefined) problems.push(`${where}: at, above or inside ${hit[0]}, ${hit[2]}, so the volume would shadow or replace it; mount it elsewhere`);
    });
  }
  // An extra container that mounts the volume holding the configuration directory can rewrite it before
  // or while the agent reads it (extraInitContainers run after build-config's `config` init container).
  for (const list of ["extraContainers", "extraInitContainers"]) {
    const containers = at(user, list);
    if (!Array.isArray(containers)) continue;
    containers.forEach((c, i) => {
      const mounts = isObject(c) ? c.volumeMounts : undefined;
      if (!Array.isArray(mounts)) return;
      mounts.forEach((m, j) => {
        if (isObject(m) && typeof m.name === "string" && AGENT_CONFIG_VOLUMES.includes(m.name)) {
          problems.push(
            `${list}[${i}].volumeMounts[${j}].name: mounts the chart's volume ${m.name}, which holds the agent's configuration directory; an extra container must not reach it`,
          );
        }
      });
    });
  }
}

/**
 * Values that would remove the agents, move their configuration source, or set an agent option the program
 * owns (`encryptionAgentOptions`) by another route: the ConfigMap (extraConfig, any casing), flags
 * (extraArgs), the environment (extraEnv, value or valueFrom), a configuration file or a mount over the
 * configuration directory or key; and values in a shape the chart does not expect.
 */
export function agentValueProblems(version: CiliumVersion, mode: Mode, user: Values, show: Show): string[] {
  const owned = encryptionAgentOptions(version);
  const problems: string[] = [];
  const why = "the program sets it from the stack's encryption config, and the verifier checks what that config says";
  agentPresenceProblems(user, show, problems);
  configSourceProblems(user, show, problems);
  shapeProblems(version, user, problems);

  const extraConfig = at(user, "extraConfig");
  if (isObject(extraConfig)) {
    for (const [key, value] of Object.entries(extraConfig)) {
      const option = key.toLowerCase();
      if (!owned.has(option)) continue;
      const folded = key === option ? "" : ` (the agent reads the key as ${option}: it lowercases the keys of its ConfigMap)`;
      problems.push(`extraConfig.${key}: set to ${show(value)}, but this agent option is rendered from the encryption values${folded}; ${why}`);
    }
  }

  const extraArgs = at(user, "extraArgs");
  if (Array.isArray(extraArgs)) {
    extraArgs.forEach((arg, i) => {
      const flag = typeof arg === "string" ? flagOf(arg) : undefined;
      if (flag === undefined) return;
      if (owned.has(flag.option)) {
        problems.push(
          flag.exact
            ? `extraArgs[${i}]: the agent flag --${flag.option} overrides the encryption values (flags win over the ConfigMap); ${why}`
            : `extraArgs[${i}]: names the agent flag --${flag.option} in a spelling the agent rejects (its flag names are exact), so agents would not start; ${why}`,
        );
      } else if (SOURCE_FLAGS[flag.option] !== undefined) {
        problems.push(`extraArgs[${i}]: --${flag.option} ${SOURCE_FLAGS[flag.option]}; remove it`);
      }
    });
  }

  const extraEnv = at(user, "extraEnv");
  if (Array.isArray(extraEnv)) {
    extraEnv.forEach((entry, i) => {
      const name = isObject(entry) ? entry.name : undefined;
      if (typeof name !== "string") {
        if (isObject(entry)) problems.push(`extraEnv[${i}].name: must be a string, the variable's name; got ${name === undefined ? "none" : kindOf(name)}`);
        return;
      }
      // Environment variable names are exact: viper binds CILIUM_<OPTION> upper-cased (BindEnv), and os.Getenv does not fold.
      const option = [...owned].find((o) => agentEnvName(o) === name);
      if (option !== undefined) {
        problems.push(`extraEnv[${i}]: ${name} sets the agent option ${option} (the environment wins over the ConfigMap); ${why}`);
      } else if (SOURCE_ENV[name] !== undefined) {
        problems.push(`extraEnv[${i}]: ${name} ${SOURCE_ENV[name]}; remove it`);
      }
    });
  }

  mountProblems(mode, user, problems);

  // daemonset.yaml sets this annotation to the ConfigMap's checksum (rollOutCiliumPods, which the program
  // turns on) and writes podAnnotations after it; Helm's kube client reads a manifest with sigs.k8s.io/yaml
  // v1.5.0 YAMLToJSON, non-strict go.yaml.in/yaml/v2 v2.4.2 decode.go setMapIndex: the later key wins.
  const annotations = at(user, "podAnnotations");
  if (isObject(annotations) && Object.hasOwn(annotations, "cilium.io/cilium-configmap-checksum")) {
    problems.push(
      "podAnnotations.cilium.io/cilium-configmap-checksum: replaces the annotation the chart sets to the ConfigMap's checksum (rollOutCiliumPods), so agents would not restart when their configuration changes; remove it",
    );
  }
  return problems;
}

/** encryption.type values the chart renders agent options for (cilium-configmap.yaml compares them exactly). */
export function renderedEncryptionTypes(version: CiliumVersion): string[] {
  return version.minor >= 19 ? ["ipsec", "wireguard", "ztunnel"] : ["ipsec", "wireguard"];
}
