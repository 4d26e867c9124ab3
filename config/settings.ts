/**
 * Stack config → typed settings. The only place that knows config keys; everything downstream takes
 * the typed result. Every problem is reported at once, each naming the full key and what is allowed,
 * before any resource is registered.
 */
import { z } from "zod";
import { IPSEC_ALGORITHM_NAMES, isKeyId, type IpsecAlgorithm } from "../encryption/keyLine";
import { parseCiliumVersion, type CiliumVersion } from "../encryption/ciliumVersion";
import { encryptionValues, userValueProblems, type EncryptionValuesInput, type Values, type WireguardEncryption } from "../encryption/helmValues";

export const PROJECT = "cilium-encryption";
export const IPSEC_SECRET_NAME = "cilium-ipsec-keys";
/** Data key of the Secret; the chart mounts it as `<mountPath>/<keyFile>` (`encryption.ipsec.keyFile`). */
export const IPSEC_KEY_FILE = "keys";
export const DEFAULT_CILIUM_VERSION = "1.20.2";
export const DEFAULT_CHART_REPO = "https://helm.cilium.io";

export interface IpsecSettings {
  type: "ipsec";
  keyId: number;
  algorithm: IpsecAlgorithm;
  keyRotationDuration: string;
}

/** WireGuard needs nothing beyond what the chart values say, so it has one shape for both. */
export type WireguardSettings = WireguardEncryption;

export type EncryptionSettings = IpsecSettings | WireguardSettings;
export type ChartSource = { kind: "repo"; repo: string; name: string } | { kind: "path"; path: string };

export interface Settings {
  encryption: EncryptionSettings;
  /** Lets a deployed stack change encryption.type; off by default because in-place switches have broken clusters. */
  allowModeSwitch: boolean;
  cilium: { namespace: string; version: CiliumVersion; chart: ChartSource; values: Values };
  cluster: { kubeconfig?: string; context?: string };
  verification: { enabled: boolean; timeoutSeconds: number; wireCheck: boolean };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid stack config:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

const GO_DURATION = /^(?:0|(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+)$/;
const UNIT_SECONDS: Record<string, number> = { ns: 1e-9, us: 1e-6, µs: 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };

export function durationSeconds(text: string): number {
  let total = 0;
  for (const m of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * UNIT_SECONDS[m[2] as string]!;
  return total;
}

const got = (input: unknown) => (input === undefined ? "it is missing" : `got ${JSON.stringify(input)}`);

const strict = <S extends z.ZodRawShape>(shape: S) =>
  z.strictObject(shape, {
    error: (iss) =>
      iss.code === "unrecognized_keys"
        ? `is not a known key; allowed here: ${Object.keys(shape).join(", ")}`
        : `must be an object with keys ${Object.keys(shape).join(", ")}, ${got(iss.input)}`,
  });
const oneOf = <T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: (iss) => `must be one of ${values.join(", ")}, ${got(iss.input)}` });
const bool = z.boolean({ error: (iss) => `must be true or false, ${got(iss.input)}` });
const text = z.string({ error: (iss) => `must be a string, ${got(iss.input)}` }).min(1, { error: "must not be empty" });
const duration = z
  .string({ error: (iss) => `must be a Go duration string such as "5m" or "90s", ${got(iss.input)}` })
  .regex(GO_DURATION, { error: (iss) => `must be a Go duration string such as "5m" or "90s", ${got(iss.input)}` });
const positiveDuration = duration.refine((d) => durationSeconds(d) > 0, { error: "must be longer than 0s" });
const ipv4Cidr = z
  .string({ error: (iss) => `must be an IPv4 CIDR such as 10.0.0.0/8, ${got(iss.input)}` })
  .regex(/^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\/(?:3[0-2]|[12]?\d)$/, {
    error: (iss) => `must be an IPv4 CIDR such as 10.0.0.0/8 (strict mode protects IPv4 only), ${got(iss.input)}`,
  });
const dnsLabel = z
  .string({ error: (iss) => `must be a Kubernetes namespace name, ${got(iss.input)}` })
  .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, { error: (iss) => `must be a Kubernetes namespace name (RFC 1123 label), ${got(iss.input)}` });
const keyId = z.custom<number>(isKeyId, {
  error: (iss) => `must be an integer from 1 to 15 (the IPsec key id; rotation increments it, 15 wraps to 1), ${got(iss.input)}`,
});

const ipsecSchema = strict({
  keyId,
  algorithm: oneOf(IPSEC_ALGORITHM_NAMES as [IpsecAlgorithm, ...IpsecAlgorithm[]]).default("aes-128-gcm"),
  keyRotationDuration: duration.default("5m"),
});

const wireguardSchema = strict({
  nodeEncryption: bool.default(false),
  persistentKeepalive: duration.default("0s"),
  strictMode: strict({ enabled: bool.default(false), cidr: ipv4Cidr.optional(), allowRemoteNodeIdentities: bool.default(false) }).optional(),
});

const schema = strict({
  encryption: strict({
    type: oneOf(["ipsec", "wireguard"] as const),
    allowModeSwitch: bool.default(false),
    ipsec: ipsecSchema.optional(),
    wireguard: wireguardSchema.optional(),
  }),
  cilium: strict({
    namespace: dnsLabel.default("kube-system"),
    version: text.default(DEFAULT_CILIUM_VERSION).superRefine((v, ctx) => {
      const parsed = parseCiliumVersion(v);
      if (typeof parsed === "string") ctx.addIssue({ code: "custom", message: parsed });
    }),
    chart: strict({
      repo: z.url({ error: (iss) => `must be a Helm repository URL, ${got(iss.input)}` }).optional(),
      name: text.optional(),
      path: text.optional(),
    }).default({}),
    values: z.record(z.string(), z.unknown(), { error: (iss) => `must be an object of Helm values, ${got(iss.input)}` }).default({}),
  }).default({ namespace: "kube-system", version: DEFAULT_CILIUM_VERSION, chart: {}, values: {} }),
  cluster: strict({ kubeconfig: text.optional(), context: text.optional() }).default({}),
  verification: strict({ enabled: bool.default(true), timeout: positiveDuration.default("10m"), wireCheck: bool.default(true) }).default({
    enabled: true,
    timeout: "10m",
    wireCheck: true,
  }),
});

type Raw = z.output<typeof schema>;

/** Cross-field rules zod's shape cannot say; returns [dotted key, message] pairs. */
function crossFieldProblems(raw: Raw): Array<[string, string]> {
  const problems: Array<[string, string]> = [];
  const enc = raw.encryption;
  if (enc.type === "ipsec") {
    if (enc.wireguard !== undefined) problems.push(["encryption.wireguard", "is a WireGuard option, but encryption.type is ipsec; remove it"]);
    if (enc.ipsec === undefined) problems.push(["encryption.ipsec.keyId", "is required when encryption.type is ipsec: an integer from 1 to 15"]);
  } else {
    if (enc.ipsec !== undefined) problems.push(["encryption.ipsec", "is an IPsec option, but encryption.type is wireguard; remove it"]);
    const strictMode = enc.wireguard?.strictMode;
    if (strictMode?.enabled === true && strictMode.cidr === undefined) {
      problems.push(["encryption.wireguard.strictMode.cidr", "is required when strict mode is enabled: the IPv4 pod CIDR, e.g. 10.0.0.0/8"]);
    }
  }
  const chart = raw.cilium.chart;
  if (chart.path !== undefined && (chart.repo !== undefined || chart.name !== undefined)) {
    problems.push(["cilium.chart", "set either path (a local chart, for air-gapped clusters) or repo and name, not both"]);
  }
  return problems;
}

function toEncryption(raw: Raw): EncryptionSettings {
  const enc = raw.encryption;
  if (enc.type === "ipsec") {
    const ipsec = enc.ipsec!;
    return { type: "ipsec", keyId: ipsec.keyId, algorithm: ipsec.algorithm, keyRotationDuration: ipsec.keyRotationDuration };
  }
  const wg = enc.wireguard ?? { nodeEncryption: false, persistentKeepalive: "0s", strictMode: undefined };
  const strictMode = wg.strictMode?.enabled === true ? { cidr: wg.strictMode.cidr!, allowRemoteNodeIdentities: wg.strictMode.allowRemoteNodeIdentities } : undefined;
  return {
    type: "wireguard",
    nodeEncryption: wg.nodeEncryption,
    persistentKeepalive: wg.persistentKeepalive,
    ...(strictMode === undefined ? {} : { strictMode }),
  };
}

/** What the chart values need to know of the encryption settings. */
export function encryptionValuesInput(enc: EncryptionSettings): EncryptionValuesInput {
  return enc.type === "ipsec"
    ? { type: "ipsec", secretName: IPSEC_SECRET_NAME, keyFile: IPSEC_KEY_FILE, keyRotationDuration: enc.keyRotationDuration }
    : enc;
}

const key = (path: PropertyKey[]) => `${PROJECT}:${path.map(String).join(".")}`;

/**
 * Parses the project's config, as the Pulumi runtime hands it over (`pulumi.runtime.allConfig()`:
 * `<project>:<key>` → string, objects as JSON). Keys of other namespaces are ignored.
 */
export function parseSettings(allConfig: Record<string, string>): Settings {
  const input: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(allConfig)) {
    if (!k.startsWith(`${PROJECT}:`)) continue;
    let value: unknown = v;
    try {
      value = JSON.parse(v);
    } catch {
      // a plain string value stays a string; the schema says whether that is allowed
    }
    input[k.slice(PROJECT.length + 1)] = value;
  }
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.flatMap((i) =>
        i.code === "unrecognized_keys" ? i.keys.map((k) => `${key([...i.path, k])}: ${i.message}`) : [`${key(i.path)}: ${i.message}`],
      ),
    );
  }
  const raw = parsed.data;
  const problems = crossFieldProblems(raw).map(([path, msg]) => `${PROJECT}:${path}: ${msg}`);
  if (problems.length > 0) throw new ConfigError(problems);

  const ciliumVersion = parseCiliumVersion(raw.cilium.version) as CiliumVersion;
  const encryption = toEncryption(raw);
  const values = raw.cilium.values as Values;
  const valueProblems = userValueProblems(ciliumVersion, encryptionValues(ciliumVersion, encryptionValuesInput(encryption)), values);
  if (valueProblems.length > 0) throw new ConfigError(valueProblems.map((p) => `${PROJECT}:cilium.values.${p}`));

  const chart = raw.cilium.chart;
  return {
    encryption,
    allowModeSwitch: raw.encryption.allowModeSwitch,
    cilium: {
      namespace: raw.cilium.namespace,
      version: ciliumVersion,
      chart: chart.path !== undefined ? { kind: "path", path: chart.path } : { kind: "repo", repo: chart.repo ?? DEFAULT_CHART_REPO, name: chart.name ?? "cilium" },
      values,
    },
    cluster: {
      ...(raw.cluster.kubeconfig === undefined ? {} : { kubeconfig: raw.cluster.kubeconfig }),
      ...(raw.cluster.context === undefined ? {} : { context: raw.cluster.context }),
    },
    verification: {
      enabled: raw.verification.enabled,
      timeoutSeconds: Math.ceil(durationSeconds(raw.verification.timeout)),
      wireCheck: raw.verification.wireCheck,
    },
  };
}
