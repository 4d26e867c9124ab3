/**
 * The Cilium chart's `encryption.*` values differ between 1.16 and 1.20 (strict-mode keys moved under
 * `egress` in 1.19 and the old ones were removed in 1.20; the WireGuard userspace fallback went away
 * in 1.17; `encryption.ipsec.interface` lost its effect in 1.20). The chart's values schema does not
 * reject unknown keys, so a typo such as `encryption.ipsec.secretname` would be silently ignored: we
 * check user keys against the known set, read from each minor's values.schema.json.
 */

import { agentStartProblems, agentValueProblems, renderedEncryptionTypes, type Values } from "./chartRules";
import type { CiliumVersion } from "./ciliumVersion";

export type { Values } from "./chartRules";

/** Egress strict mode: unencrypted pod traffic to `cidr` is dropped. */
export interface StrictMode {
  cidr: string;
  allowRemoteNodeIdentities: boolean;
}

export interface IpsecEncryption {
  type: "ipsec";
  secretName: string;
  keyFile: string;
  keyRotationDuration: string;
  /** Cilium 1.19 and later only. */
  strictMode?: StrictMode;
}

export interface WireguardEncryption {
  type: "wireguard";
  nodeEncryption: boolean;
  persistentKeepalive: string;
  strictMode?: StrictMode;
}

export type EncryptionValuesInput = IpsecEncryption | WireguardEncryption;

/**
 * Before 1.19 the strict-mode check sits inside the WireGuard path of bpf_host.c; from cilium v1.19.7
 * bpf/bpf_host.c runs it for `ENABLE_IPSEC || ENABLE_WIREGUARD`.
 */
export const IPSEC_STRICT_MODE_MIN_MINOR = 19;

/** The values this product owns for the given chart version. */
export function encryptionValues(version: CiliumVersion, enc: EncryptionValuesInput): Values {
  // A WireGuard toggle only changes the ConfigMap; without a rollout agents keep the old setting.
  const values: Values = { rollOutCiliumPods: true };
  const encryption: Values =
    enc.type === "ipsec"
      ? {
          enabled: true,
          type: "ipsec",
          ipsec: { secretName: enc.secretName, keyFile: enc.keyFile, keyRotationDuration: enc.keyRotationDuration, keyWatcher: true },
        }
      : { enabled: true, type: "wireguard", nodeEncryption: enc.nodeEncryption, wireguard: { persistentKeepalive: enc.persistentKeepalive } };
  if (enc.strictMode !== undefined) {
    if (enc.type === "ipsec" && version.minor < IPSEC_STRICT_MODE_MIN_MINOR) {
      throw new Error(`IPsec strict mode needs Cilium 1.${IPSEC_STRICT_MODE_MIN_MINOR} or later, got ${version.text}`);
    }
    const strict = { enabled: true, cidr: enc.strictMode.cidr, allowRemoteNodeIdentities: enc.strictMode.allowRemoteNodeIdentities };
    encryption.strictMode = version.minor >= 19 ? { egress: strict } : strict;
  }
  values.encryption = encryption;
  return values;
}

type Belongs = "ipsec" | "wireguard" | "both";

/** `encryption.*` leaf keys the chart of each version knows (values.schema.json), with the mode they belong to. */
export function knownEncryptionKeys(version: CiliumVersion): Map<string, Belongs> {
  const keys = new Map<string, Belongs>([
    ["encryption.enabled", "both"],
    ["encryption.type", "both"],
    ["encryption.nodeEncryption", "wireguard"],
    ["encryption.ipsec.interface", "ipsec"],
    ["encryption.ipsec.keyFile", "ipsec"],
    ["encryption.ipsec.keyRotationDuration", "ipsec"],
    ["encryption.ipsec.keyWatcher", "ipsec"],
    ["encryption.ipsec.mountPath", "ipsec"],
    ["encryption.ipsec.secretName", "ipsec"],
    ["encryption.wireguard.persistentKeepalive", "wireguard"],
  ]);
  const strictLeaves = ["enabled", "cidr", "allowRemoteNodeIdentities"];
  if (version.minor <= 19) keys.set("encryption.ipsec.encryptedOverlay", "ipsec");
  if (version.minor === 16) keys.set("encryption.wireguard.userspaceFallback", "wireguard");
  if (version.minor <= 19) for (const leaf of strictLeaves) keys.set(`encryption.strictMode.${leaf}`, version.minor >= 19 ? "both" : "wireguard");
  if (version.minor >= 19) {
    for (const leaf of strictLeaves) keys.set(`encryption.strictMode.egress.${leaf}`, "both");
    // cilium v1.19.7/v1.20.2 daemon/cmd/daemon.go: "IPSec doesnt support strict ingress encryption."
    keys.set("encryption.strictMode.ingress.enabled", "wireguard");
  }
  return keys;
}

function isPlainObject(v: unknown): v is Values {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Flattens nested values to dotted leaf paths; arrays and scalars are leaves. */
export function leafPaths(values: Values, prefix = ""): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [k, v] of Object.entries(values)) {
    const path = prefix === "" ? k : `${prefix}.${k}`;
    if (isPlainObject(v)) {
      // An empty object sets nothing in Helm, so it is no leaf.
      for (const [p, leaf] of leafPaths(v, path)) out.set(p, leaf);
    } else {
      out.set(path, v);
    }
  }
  return out;
}

function deepMerge(base: Values, over: Values): Values {
  const out: Values = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isPlainObject(b) && isPlainObject(v) ? deepMerge(b, v) : v;
  }
  return out;
}

const OLD_STRICT = /^encryption\.strictMode\.(enabled|cidr|allowRemoteNodeIdentities)$/;
const EGRESS_STRICT = /^encryption\.strictMode\.egress\./;

/** Why a user value under `encryption.` that the chart knows is still refused, or undefined. */
function ownedEncryptionKey(version: CiliumVersion, mode: string, path: string): string | undefined {
  if (path === "encryption.ipsec.interface" && version.minor >= 20) {
    return "has no effect from Cilium 1.20: the chart no longer renders encrypt-interface and the agent has no such option (cilium v1.20.2 cilium-configmap.yaml, pkg/option/config.go); remove it";
  }
  if (path === "encryption.ipsec.mountPath") {
    return "the program owns the key mount: the chart mounts the key Secret there and points the agents' ipsec-key-file at <mountPath>/<keyFile>; remove it";
  }
  if (OLD_STRICT.test(path) && version.minor === 19) {
    return (
      "the pre-1.19 strict-mode key; on Cilium 1.19 the chart renders it into the same ConfigMap keys as encryption.strictMode.egress.* " +
      "(cilium v1.19.7 cilium-configmap.yaml: enable-encryption-strict-mode-egress twice), so old and new keys cannot be set together; " +
      `set strict mode with the stack's encryption.${mode}.strictMode`
    );
  }
  if (OLD_STRICT.test(path) || EGRESS_STRICT.test(path)) {
    return `strict mode is set with the stack's encryption.${mode}.strictMode, so that the verifier checks it; remove it from cilium.values`;
  }
  return undefined;
}

/**
 * Problems with user-supplied extra values: contradictions of the encryption values we set, unknown
 * `encryption.*` keys for this chart version, options of the other mode, keys the program owns, values
 * that remove the agents, move their configuration source or set an owned agent option by another route
 * (chartRules.ts agentValueProblems), and combinations the agent refuses to start with. Paths
 * are dotted; `show` renders a user value (the caller hides secret ones).
 */
export function userValueProblems(
  version: CiliumVersion,
  ours: Values,
  user: Values,
  show: (v: unknown) => string = (v) => JSON.stringify(v),
  /** Renders our own values, which come from the stack's encryption config: secret when that is. */
  showOurs: (v: unknown) => string = (v) => JSON.stringify(v),
): string[] {
  const problems: string[] = [];
  const ourLeaves = leafPaths(ours);
  const mode = (ours.encryption as Values).type as "ipsec" | "wireguard";
  const known = knownEncryptionKeys(version);
  for (const [path, value] of leafPaths(user)) {
    const owned = [...ourLeaves.keys()].find((p) => p === path || p.startsWith(`${path}.`) || path.startsWith(`${p}.`));
    if (owned !== undefined) {
      if (owned === path && JSON.stringify(ourLeaves.get(path)) === JSON.stringify(value)) continue;
      const rendered = renderedEncryptionTypes(version);
      if (path === "encryption.type" && !rendered.includes(value as string)) {
        problems.push(
          `${path}: set to ${show(value)}, but the encryption settings require ${path} = ${showOurs(ourLeaves.get(path))}, and the Cilium ${version.major}.${version.minor} ` +
            `chart renders no encryption for this type at all (cilium-configmap.yaml compares it exactly with ${rendered.join(", ")}), so encryption would be off; ` +
            "set the type with the stack's encryption.type and leave it out of cilium.values",
        );
        continue;
      }
      problems.push(
        `${path}: set to ${show(value)}, but the encryption settings require ${owned} = ${showOurs(ourLeaves.get(owned))}; change it through the stack's encryption config instead`,
      );
      continue;
    }
    if (!path.startsWith("encryption.") && path !== "encryption") continue;
    if (path.startsWith("encryption.ztunnel.") && version.minor >= 19) {
      problems.push(`${path}: a ztunnel option, but encryption.type is ${mode}`);
      continue;
    }
    const belongs = known.get(path);
    if (belongs === undefined) {
      problems.push(
        `${path}: not a value of the Cilium ${version.major}.${version.minor} chart's encryption section; known: ${[...known.keys()].sort().join(", ")}`,
      );
    } else if (belongs !== "both" && belongs !== mode) {
      problems.push(`${path}: a ${belongs} option, but encryption.type is ${mode}`);
    } else {
      const reason = ownedEncryptionKey(version, mode, path);
      if (reason !== undefined) problems.push(`${path}: ${reason}`);
    }
  }
  problems.push(...agentValueProblems(version, mode, user, show), ...agentStartProblems(version, mode, user));
  return problems;
}

/** User values with ours merged over them; throws when the user values contradict ours. */
export function ciliumValues(version: CiliumVersion, enc: EncryptionValuesInput, user: Values): Values {
  const ours = encryptionValues(version, enc);
  const problems = userValueProblems(version, ours, user);
  if (problems.length > 0) {
    throw new Error(`cilium.values: ${problems.join("; ")}`);
  }
  return deepMerge(user, ours);
}
