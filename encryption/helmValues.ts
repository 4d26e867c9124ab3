/**
 * The Cilium chart's `encryption.*` values differ between 1.16 and 1.20 (strict-mode keys moved under
 * `egress` in 1.19 and the old ones were removed in 1.20; the WireGuard userspace fallback went away
 * in 1.17). The chart's values schema does not reject unknown keys, so a typo such as
 * `encryption.ipsec.secretname` would be silently ignored: we check user keys against the known set.
 */

import type { CiliumVersion } from "./ciliumVersion";

export interface IpsecEncryption {
  type: "ipsec";
  secretName: string;
  keyFile: string;
  keyRotationDuration: string;
}

export interface WireguardEncryption {
  type: "wireguard";
  nodeEncryption: boolean;
  persistentKeepalive: string;
  strictMode?: { cidr: string; allowRemoteNodeIdentities: boolean };
}

export type EncryptionValuesInput = IpsecEncryption | WireguardEncryption;

export type Values = { [key: string]: unknown };

/** The values this product owns for the given chart version. */
export function encryptionValues(version: CiliumVersion, enc: EncryptionValuesInput): Values {
  // A WireGuard toggle only changes the ConfigMap; without a rollout agents keep the old setting.
  const values: Values = { rollOutCiliumPods: true };
  if (enc.type === "ipsec") {
    values.encryption = {
      enabled: true,
      type: "ipsec",
      ipsec: {
        secretName: enc.secretName,
        keyFile: enc.keyFile,
        keyRotationDuration: enc.keyRotationDuration,
        keyWatcher: true,
      },
    };
    return values;
  }
  const encryption: Values = {
    enabled: true,
    type: "wireguard",
    nodeEncryption: enc.nodeEncryption,
    wireguard: { persistentKeepalive: enc.persistentKeepalive },
  };
  if (enc.strictMode !== undefined) {
    const strict = { enabled: true, cidr: enc.strictMode.cidr, allowRemoteNodeIdentities: enc.strictMode.allowRemoteNodeIdentities };
    encryption.strictMode = version.minor >= 19 ? { egress: strict } : strict;
  }
  values.encryption = encryption;
  return values;
}

/** `encryption.*` leaf keys the chart of each version knows, with the mode they belong to. */
function knownEncryptionKeys(version: CiliumVersion): Map<string, "ipsec" | "wireguard" | "both"> {
  const keys = new Map<string, "ipsec" | "wireguard" | "both">([
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
  if (version.minor <= 19) keys.set("encryption.ipsec.encryptedOverlay", "ipsec");
  if (version.minor === 16) keys.set("encryption.wireguard.userspaceFallback", "wireguard");
  const strict = version.minor >= 19 ? "encryption.strictMode.egress" : "encryption.strictMode";
  for (const leaf of ["enabled", "cidr", "allowRemoteNodeIdentities"]) keys.set(`${strict}.${leaf}`, "wireguard");
  if (version.minor === 19) {
    for (const leaf of ["enabled", "cidr", "allowRemoteNodeIdentities"]) keys.set(`encryption.strictMode.${leaf}`, "wireguard");
  }
  if (version.minor >= 19) keys.set("encryption.strictMode.ingress.enabled", "wireguard");
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

/**
 * Problems with user-supplied extra values: contradictions of the encryption values we set, unknown
 * `encryption.*` keys for this chart version, and options of the other mode. Paths are dotted.
 */
export function userValueProblems(version: CiliumVersion, ours: Values, user: Values): string[] {
  const problems: string[] = [];
  const ourLeaves = leafPaths(ours);
  const mode = (ours.encryption as Values).type as "ipsec" | "wireguard";
  const known = knownEncryptionKeys(version);
  for (const [path, value] of leafPaths(user)) {
    const owned = [...ourLeaves.keys()].find((p) => p === path || p.startsWith(`${path}.`) || path.startsWith(`${p}.`));
    if (owned !== undefined) {
      if (owned === path && JSON.stringify(ourLeaves.get(path)) === JSON.stringify(value)) continue;
      problems.push(`${path}: set to ${JSON.stringify(value)}, but the encryption settings require ${owned} = ${JSON.stringify(ourLeaves.get(owned))}; change it through the stack's encryption config instead`);
      continue;
    }
    if (!path.startsWith("encryption.") && path !== "encryption") continue;
    const belongs = known.get(path);
    if (belongs === undefined) {
      problems.push(`${path}: not a value of the Cilium ${version.major}.${version.minor} chart's encryption section; known: ${[...known.keys()].sort().join(", ")}`);
    } else if (belongs !== "both" && belongs !== mode) {
      problems.push(`${path}: a ${belongs} option, but encryption.type is ${mode}`);
    }
  }
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
