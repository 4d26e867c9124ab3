/**
 * Stack config → typed settings. The only place that knows config keys; everything downstream takes
 * the typed result. Every problem is reported at once, each naming the full key and what is allowed,
 * before any resource is registered. A value under a key the user marked secret is never echoed.
 */
import { z } from "zod";
import { type CiliumVersion, parseCiliumVersion } from "../encryption/ciliumVersion";
import { ceilSeconds, formatGoDuration, MAX_GO_DURATION_TEXT, parseGoDuration } from "../encryption/goDuration";
import {
  type EncryptionValuesInput,
  encryptionValues,
  IPSEC_STRICT_MODE_MIN_MINOR,
  type StrictMode,
  userValueProblems,
  type Values,
  type WireguardEncryption,
} from "../encryption/helmValues";
import { IPSEC_ALGORITHM_NAMES, type IpsecAlgorithm, isKeyId } from "../encryption/keyLine";
import { CONTEXT_ENV } from "../verifier/args";
import { IMAGE_REFERENCE_ALLOWED, imageReferenceProblem } from "../verifier/images";
import { hostEnv, kubeconfigContentsProblem, readLocalChart, resolvePath, type SettingsEnv } from "./files";
import { treeProblems } from "./valueTree";

export const PROJECT = "cilium-encryption";
export const IPSEC_SECRET_NAME = "cilium-ipsec-keys";
/** Data key of the Secret; the chart mounts it as `<mountPath>/<keyFile>` (`encryption.ipsec.keyFile`). */
export const IPSEC_KEY_FILE = "keys";
export const DEFAULT_CILIUM_VERSION = "1.20.2";
export const DEFAULT_CHART_REPO = "https://helm.cilium.io";
/** cilium-cli and Cilium's docs install the release under this name. */
export const DEFAULT_RELEASE_NAME = "cilium";
/** verifier/args.ts accepts `--timeout` from 1 to 86400 seconds. */
export const VERIFIER_MAX_TIMEOUT_SECONDS = 86400;
/** wgctrl (golang.zx2c4.com/wireguard/wgctrl internal/wglinux) hands the kernel uint16(seconds). */
export const MAX_KEEPALIVE_SECONDS = 65535;

export interface IpsecSettings {
  type: "ipsec";
  keyId: number;
  algorithm: IpsecAlgorithm;
  keyRotationDuration: string;
  /** Egress strict mode, Cilium 1.19 and later. */
  strictMode?: StrictMode;
}

/** WireGuard needs nothing beyond what the chart values say, so it has one shape for both. */
export type WireguardSettings = WireguardEncryption;

export type EncryptionSettings = IpsecSettings | WireguardSettings;
export type ChartSource = { kind: "repo"; repo: string; name: string } | { kind: "oci"; ref: string } | { kind: "path"; path: string };

export interface Settings {
  encryption: EncryptionSettings;
  /** Lets a deployed stack change encryption.type; off by default because in-place switches have broken clusters. */
  allowModeSwitch: boolean;
  cilium: {
    namespace: string;
    version: CiliumVersion;
    chart: ChartSource;
    values: Values;
    /** Helm release name of Cilium (an existing release of this name is adopted). */
    releaseName: string;
    /** Lets the program move an adopted release to `version` when its chart version differs. */
    allowChartUpgrade: boolean;
  };
  /** `kubeconfig` is a file path or the kubeconfig's contents (see `isKubeconfigContents`). */
  cluster: { kubeconfig?: string; context?: string };
  /** The user marked `cluster` secret: its values must stay secret wherever they are passed. */
  clusterIsSecret: boolean;
  /**
   * Top-level keys (`encryption`, `cilium`, ...) the user marked secret. Pulumi marks a whole top-level
   * key secret when any value under it is (`pulumi config set --secret --path cilium.values.x`), so
   * everything read from one must stay secret.
   */
  secretKeys: ReadonlySet<string>;
  /** `images`: overrides of the wire check's default images, e.g. a mirror's. */
  verification: { enabled: boolean; timeoutSeconds: number; wireCheck: boolean; images: { workload?: string; capture?: string } };
  /** Things that are allowed but worth a look (printed by the program, not errors). */
  warnings: string[];
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid stack config:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/**
 * A kubeconfig meant inline (YAML or JSON) rather than as a path. The settings refuse such a value
 * unless it reads as a kubeconfig (`kubeconfigContentsProblem`), so every caller that tells contents
 * from a path this way gets either a kubeconfig or an existing file.
 */
export function isKubeconfigContents(value: string): boolean {
  return /[\r\n]/.test(value) || /^\s*(\{|apiVersion\s*:)/.test(value);
}

// zod error callbacks cannot see which top-level key they are under, so a secret key is parsed a
// second time with echoing off and its messages taken from that pass.
let echo = true;
const SECRET_NOT_SHOWN = "a value marked secret (not shown)";
const got = (input: unknown) => (input === undefined ? "it is missing" : echo ? `got ${JSON.stringify(input)}` : `got ${SECRET_NOT_SHOWN}`);

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
/** Values handed to kubectl, Helm or the verifier as arguments: a leading "-" would read as a flag. */
const notFlag = text.refine((v) => !v.startsWith("-"), {
  error: (iss) => `must not start with "-" (it would be read as a command-line flag), ${got(iss.input)}`,
});

/** A Go duration the agent can parse; `check` adds the setting's own range. */
const goDuration = (check: (ns: bigint) => string | undefined = () => undefined) =>
  z.string({ error: (iss) => `must be a Go duration string such as "5m" or "90s", ${got(iss.input)}` }).superRefine((v, ctx) => {
    const d = parseGoDuration(v);
    const problem = d.ok
      ? check(d.ns)
      : d.reason === "syntax"
        ? `must be a Go duration string such as "5m" or "90s"`
        : `is beyond Go's duration range (at most ${MAX_GO_DURATION_TEXT}): Cilium and Helm read it as a Go duration`;
    if (problem !== undefined) ctx.addIssue({ code: "custom", message: `${problem}, ${got(v)}` });
  });
const SECOND = 1_000_000_000n;
/**
 * cilium v1.20.2 pkg/datapath/linux/ipsec/ipsec_linux.go: the stale-key reclaimer runs once a minute
 * (StartBackgroundJobs) and removes a replaced key once it was replaced at least this long ago
 * (ipSecSPICanBeReclaimed); likewise v1.16.19 to v1.18.11 (the timer in ipsec/cell.go) and v1.19.7.
 */
const RECLAIMER_INTERVAL_NS = 60n * SECOND;
const MIN_KEY_ROTATION_TEXT = "1s";
const keyRotationDuration = goDuration((ns) => {
  if (ns === 0n) {
    return "must be longer than 0s: agents remove the previous key this long after a rotation (cilium v1.20.2 pkg/datapath/linux/ipsec/ipsec_linux.go), so 0s drops traffic from nodes that have not loaded the new key yet";
  }
  return ns < SECOND
    ? `must be at least ${MIN_KEY_ROTATION_TEXT}: agents remove the previous key at the first run of their once-a-minute stale-key reclaimer that finds it replaced ` +
        "this long ago (cilium v1.20.2 pkg/datapath/linux/ipsec/ipsec_linux.go ipSecSPICanBeReclaimed), so a value under a second is 0s in all but name " +
        "and drops traffic from nodes that have not loaded the new key yet; Cilium's default is 5m"
    : undefined;
});
const persistentKeepalive = goDuration((ns) =>
  ns === 0n || (ns % SECOND === 0n && ns / SECOND <= BigInt(MAX_KEEPALIVE_SECONDS))
    ? undefined
    : `must be 0s (off) or a whole number of seconds up to ${MAX_KEEPALIVE_SECONDS}s: the kernel takes the interval as a 16-bit count of seconds and Cilium passes it on unchecked`,
);
/**
 * The verifier allows each kubectl call 60 s (verifier/kubectl.ts DEFAULT_TIMEOUT_MS) and each agent
 * query 30 s (verifier/run.ts), and Helm waits for the agents' rollout within the same timeout
 * (components/ciliumRelease.ts): below a minute one slow call uses up the whole verification.
 */
const MIN_VERIFICATION_TIMEOUT_SECONDS = 60;
const verificationTimeout = goDuration((ns) =>
  ns >= BigInt(MIN_VERIFICATION_TIMEOUT_SECONDS) * SECOND && ceilSeconds(ns) <= VERIFIER_MAX_TIMEOUT_SECONDS
    ? undefined
    : `must be from 1m to 24h (${VERIFIER_MAX_TIMEOUT_SECONDS}s, the verifier's limit): below a minute, one of the verifier's kubectl calls (60s each at most) ` +
      "or Helm's wait for the agents' rollout, which shares this timeout, uses it all up",
);

/**
 * Linux's MAX_ARG_STRLEN (include/uapi/linux/binfmts.h: 32 pages, 4 KiB each): the longest single
 * `NAME=value` string, its NUL included, that execve passes on. The verification hands inline
 * kubeconfig contents and the context to the verifier in environment variables
 * (components/encryptionVerification.ts), and its shell, Node and kubectl are each exec'd with them.
 */
const MAX_ARG_STRLEN = 131072;
const envValueMax = (name: string) => MAX_ARG_STRLEN - Buffer.byteLength(`${name}=`) - 1;
export const KUBECONFIG_DATA_ENV = "CILIUM_ENCRYPTION_KUBECONFIG_DATA";
export const MAX_INLINE_KUBECONFIG_BYTES = envValueMax(KUBECONFIG_DATA_ENV);
export const MAX_CONTEXT_BYTES = envValueMax(CONTEXT_ENV);
const envLimit = (what: string, name: string, max: number) =>
  `the verification hands the ${what} to the verifier in the environment variable ${name}, and Linux passes at most 128 KiB per environment ` +
  `string, name included (MAX_ARG_STRLEN); allowed: at most ${max} bytes`;

const isValuesObject = (v: unknown): v is Values => typeof v === "object" && v !== null && !Array.isArray(v);
/** Taken as given (z.record would drop a `__proto__` key unseen), then checked for what the program can carry. */
const helmValues = z.custom<Values>(isValuesObject, { error: (iss) => `must be an object of Helm values, ${got(iss.input)}` }).superRefine((v, ctx) => {
  for (const [path, message] of treeProblems(v, { checkSize: true })) ctx.addIssue({ code: "custom", message, ...(path === "" ? {} : { path: [path] }) });
});
/** An image of the wire check's pods (a mirror, for air-gapped clusters), checked as the verifier checks it. */
const imageReference = z.string({ error: (iss) => `must be ${IMAGE_REFERENCE_ALLOWED}, ${got(iss.input)}` }).superRefine((v, ctx) => {
  const problem = imageReferenceProblem(v);
  if (problem !== null) ctx.addIssue({ code: "custom", message: `${problem}, ${got(v)}` });
});

const ipv4Cidr = z
  .string({ error: (iss) => `must be an IPv4 CIDR such as 10.0.0.0/8, ${got(iss.input)}` })
  .regex(/^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\/(?:3[0-2]|[12]?\d)$/, {
    error: (iss) => `must be an IPv4 CIDR such as 10.0.0.0/8 (strict mode protects IPv4 only), ${got(iss.input)}`,
  });
const dnsLabel = z
  .string({ error: (iss) => `must be a Kubernetes namespace name, ${got(iss.input)}` })
  .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, { error: (iss) => `must be a Kubernetes namespace name (RFC 1123 label), ${got(iss.input)}` });
const releaseName = z.string({ error: (iss) => `must be a Helm release name, ${got(iss.input)}` }).regex(/^[a-z0-9]([-a-z0-9]{0,51}[a-z0-9])?$/, {
  error: (iss) =>
    `must be a Helm release name: lowercase letters, digits and "-", starting and ending with a letter or digit, at most 53 characters, ${got(iss.input)}`,
});
const chartRepo = z
  .string({ error: (iss) => `must be an https:// or oci:// URL, ${got(iss.input)}` })
  .refine((v) => /^(https|oci):\/\/[^\s/]+/.test(v) && URL.canParse(v), {
    error: (iss) => `must be an https:// or oci:// URL of a chart repository (plain http lets anyone on the path swap the chart), ${got(iss.input)}`,
  });
const chartName = z
  .string({ error: (iss) => `must be a chart name, ${got(iss.input)}` })
  .regex(/^[a-z0-9][a-z0-9._-]*$/, { error: (iss) => `must be a chart name (lowercase letters, digits, ".", "_", "-"), ${got(iss.input)}` });
const keyId = z.custom<number>(isKeyId, {
  error: (iss) => `must be an integer from 1 to 15 (the IPsec key id; rotation increments it, 15 wraps to 1), ${got(iss.input)}`,
});
const strictModeSchema = strict({ enabled: bool.optional(), cidr: ipv4Cidr.optional(), allowRemoteNodeIdentities: bool.optional() }).optional();

const ipsecSchema = strict({
  keyId,
  algorithm: oneOf(IPSEC_ALGORITHM_NAMES as [IpsecAlgorithm, ...IpsecAlgorithm[]]).default("aes-128-gcm"),
  keyRotationDuration: keyRotationDuration.default("5m"),
  strictMode: strictModeSchema,
});

const wireguardSchema = strict({
  nodeEncryption: bool.default(false),
  persistentKeepalive: persistentKeepalive.default("0s"),
  strictMode: strictModeSchema,
});

const CILIUM_DEFAULTS = {
  namespace: "kube-system",
  version: DEFAULT_CILIUM_VERSION,
  chart: {},
  values: {},
  releaseName: DEFAULT_RELEASE_NAME,
  allowChartUpgrade: false,
};

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
      const parsed = parseCiliumVersion(v, echo ? v : "(version not shown: a value marked secret)");
      if (typeof parsed === "string") ctx.addIssue({ code: "custom", message: parsed });
    }),
    chart: strict({ repo: chartRepo.optional(), name: chartName.optional(), path: notFlag.optional() }).default({}),
    values: helmValues.default({}),
    releaseName: releaseName.default(DEFAULT_RELEASE_NAME),
    allowChartUpgrade: bool.default(false),
  }).default(CILIUM_DEFAULTS),
  cluster: strict({
    kubeconfig: text.optional(),
    context: notFlag
      // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what a context name must not hold
      .refine((v) => !/[\x00-\x1f\x7f]/.test(v), { error: (iss) => `must be a kubeconfig context name (no control characters), ${got(iss.input)}` })
      .refine((v) => Buffer.byteLength(v) <= MAX_CONTEXT_BYTES, {
        error: (iss) => `is ${Buffer.byteLength(String(iss.input))} bytes; ${envLimit("context", CONTEXT_ENV, MAX_CONTEXT_BYTES)}`,
      })
      .optional(),
  }).default({}),
  verification: strict({
    enabled: bool.default(true),
    timeout: verificationTimeout.default("10m"),
    wireCheck: bool.default(true),
    images: strict({ workload: imageReference.optional(), capture: imageReference.optional() }).optional(),
  }).default({
    enabled: true,
    timeout: "10m",
    wireCheck: true,
  }),
});

type Raw = z.output<typeof schema>;
type RawStrict = z.output<typeof strictModeSchema>;

/** Renders a config value for a message, unless its top-level key is secret. */
type Show = (value: unknown) => string;

function strictModeProblems(base: string, strictMode: RawStrict, show: Show, warnings: string[]): Array<[string, string]> {
  if (strictMode === undefined) return [];
  const problems: Array<[string, string]> = [];
  if (strictMode.enabled !== true) {
    for (const leaf of ["cidr", "allowRemoteNodeIdentities"] as const) {
      if (strictMode[leaf] !== undefined) {
        problems.push([
          `${base}.${leaf}`,
          `is set, but ${base}.enabled is not true, so strict mode stays off and this does nothing; set enabled: true or remove it`,
        ]);
      }
    }
    return problems;
  }
  if (strictMode.cidr === undefined) {
    problems.push([`${base}.cidr`, "is required when strict mode is enabled: the IPv4 pod CIDR, e.g. 10.0.0.0/8"]);
    return problems;
  }
  if (strictMode.allowRemoteNodeIdentities !== true) {
    // cilium v1.16.19–v1.20.2 pkg/datapath/linux/config/config.go: an error, not a warning, when the
    // node's IPv4 address lies in the strict CIDR and remote node identities are not allowed.
    const refusal =
      "Cilium agents refuse to start when a node's IPv4 address lies inside the strict-mode CIDR and allowRemoteNodeIdentities is false " +
      "(pkg/datapath/linux/config/config.go)";
    if (strictMode.cidr.endsWith("/0")) {
      problems.push([
        `${base}.cidr`,
        `${show(strictMode.cidr)} contains every node address; ${refusal}; use the pod CIDR or set allowRemoteNodeIdentities: true`,
      ]);
    } else {
      warnings.push(
        `${PROJECT}:${base}: ${refusal}: make sure ${show(strictMode.cidr)} holds pod addresses only, or set allowRemoteNodeIdentities: true ` +
          "(Cilium's flag help calls it required with tunneling or when node and pod CIDRs overlap)",
      );
    }
  }
  return problems;
}

/**
 * After a rotation the verification waits until agents hold only the new key; they drop the old one at
 * the first reclaimer run at least keyRotationDuration after loading the new key, so a timeout not
 * longer than that can end a rotation's verification unverified. Only a warning: a stack that never
 * rotates is fine with a short timeout (the demo's is one).
 */
function rotationOutlastsVerification(keyRotation: string | undefined, timeout: string | undefined): string | undefined {
  if (keyRotation === undefined || timeout === undefined) return undefined;
  const [k, t] = [parseGoDuration(keyRotation), parseGoDuration(timeout)];
  if (!k.ok || !t.ok) return undefined;
  const needed = k.ns + RECLAIMER_INTERVAL_NS;
  if (t.ns > needed) return undefined;
  return (
    `${timeout} is not longer than encryption.ipsec.keyRotationDuration plus one run of the agents' once-a-minute stale-key reclaimer ` +
    `(${formatGoDuration(needed)}): after a key rotation, agents keep the old key that long (cilium v1.20.2 pkg/datapath/linux/ipsec/ipsec_linux.go), ` +
    "so the rotation's verification can end before the keys settle and fail the update; lengthen the timeout or shorten keyRotationDuration"
  );
}

/** Cross-field rules zod's shape cannot say; returns [dotted key, message] pairs. */
function crossFieldProblems(raw: Raw, version: CiliumVersion, showFor: (top: string) => Show, warnings: string[]): Array<[string, string]> {
  const problems: Array<[string, string]> = [];
  const enc = raw.encryption;
  const show = showFor("encryption");
  if (enc.type === "ipsec") {
    if (enc.wireguard !== undefined) problems.push(["encryption.wireguard", "is a WireGuard option, but encryption.type is ipsec; remove it"]);
    const rotation = rotationOutlastsVerification(enc.ipsec?.keyRotationDuration, raw.verification.enabled ? raw.verification.timeout : undefined);
    if (rotation !== undefined) warnings.push(`${PROJECT}:verification.timeout: ${rotation}`);
    if (enc.ipsec === undefined) problems.push(["encryption.ipsec.keyId", "is required when encryption.type is ipsec: an integer from 1 to 15"]);
    const strictMode = enc.ipsec?.strictMode;
    if (strictMode !== undefined && version.minor < IPSEC_STRICT_MODE_MIN_MINOR) {
      problems.push([
        "encryption.ipsec.strictMode",
        `needs Cilium 1.${IPSEC_STRICT_MODE_MIN_MINOR} or later (before that, strict mode is WireGuard-only: bpf/bpf_host.c), and cilium.version is ${version.text}`,
      ]);
    } else {
      problems.push(...strictModeProblems("encryption.ipsec.strictMode", strictMode, show, warnings));
    }
  } else {
    if (enc.ipsec !== undefined) problems.push(["encryption.ipsec", "is an IPsec option, but encryption.type is wireguard; remove it"]);
    problems.push(...strictModeProblems("encryption.wireguard.strictMode", enc.wireguard?.strictMode, show, warnings));
  }
  const chart = raw.cilium.chart;
  if (chart.path !== undefined && (chart.repo !== undefined || chart.name !== undefined)) {
    problems.push(["cilium.chart", "set either path (a local chart, for air-gapped clusters) or repo and name, not both"]);
  }
  return problems;
}

/** Problems that need the files the config points at. */
function fileProblems(raw: Raw, version: CiliumVersion, env: SettingsEnv, showFor: (top: string) => Show): Array<[string, string]> {
  const problems: Array<[string, string]> = [];
  const kubeconfig = raw.cluster.kubeconfig;
  if (kubeconfig !== undefined && isKubeconfigContents(kubeconfig)) {
    // The contents hold credentials: a problem names their size or where they fail to parse, never a part of them.
    const bytes = Buffer.byteLength(kubeconfig);
    const notKubeconfig = kubeconfigContentsProblem(kubeconfig);
    if (notKubeconfig !== undefined) {
      problems.push([
        "cluster.kubeconfig",
        `is taken as a kubeconfig's contents (it spans lines or starts with "{" or "apiVersion:"), but ${notKubeconfig}; allowed: the path of a ` +
          "kubeconfig file (relative to the project, ~ for home), or a kubeconfig's contents: one YAML or JSON mapping of clusters, contexts, users and current-context",
      ]);
    } else if (kubeconfig.includes("\0")) {
      problems.push([
        "cluster.kubeconfig",
        "holds a NUL character, which no environment variable can carry; allowed: a kubeconfig without one, or its file's path",
      ]);
    } else if (bytes > MAX_INLINE_KUBECONFIG_BYTES) {
      problems.push([
        "cluster.kubeconfig",
        `is ${bytes} bytes of inline contents; ${envLimit("inline contents", KUBECONFIG_DATA_ENV, MAX_INLINE_KUBECONFIG_BYTES)}, or the path of a kubeconfig file`,
      ]);
    }
  } else if (kubeconfig !== undefined) {
    const show = showFor("cluster");
    if (kubeconfig.startsWith("-")) {
      problems.push(["cluster.kubeconfig", `must not start with "-" (it would be read as a command-line flag), got ${show(kubeconfig)}`]);
    } else {
      const kind = env.kind(resolvePath(env, kubeconfig));
      if (kind !== "file") {
        const what = kind === "missing" ? "no such file" : "not a file";
        problems.push([
          "cluster.kubeconfig",
          `${what}: ${show(kubeconfig)}; must be the path of an existing kubeconfig file (relative to the project, ~ for home) or the kubeconfig's contents`,
        ]);
      }
    }
  }
  const path = raw.cilium.chart.path;
  if (path !== undefined) {
    const show = showFor("cilium");
    const chart = readLocalChart(env, path);
    if (typeof chart === "string") {
      problems.push(["cilium.chart.path", `${show(path)} ${chart}; must be a Cilium chart directory (with Chart.yaml) or a packaged chart (.tgz)`]);
    } else if (chart.name !== "cilium") {
      problems.push(["cilium.chart.path", `${show(path)} is the chart ${JSON.stringify(chart.name)}, not Cilium's chart "cilium"`]);
    } else if (String(chart.version).replace(/^v/, "") !== version.text) {
      problems.push([
        "cilium.chart.path",
        `the chart at ${show(path)} is version ${JSON.stringify(chart.version)}, but cilium.version is ${version.text}; Helm installs a local chart as it is ` +
          "and ignores the version, while the encryption values follow cilium.version: set cilium.version to the chart's version or point to that version's chart",
      ]);
    }
  }
  return problems;
}

function toStrict(s: RawStrict): StrictMode | undefined {
  return s?.enabled === true && s.cidr !== undefined ? { cidr: s.cidr, allowRemoteNodeIdentities: s.allowRemoteNodeIdentities ?? false } : undefined;
}

function toEncryption(raw: Raw): EncryptionSettings {
  const enc = raw.encryption;
  if (enc.type === "ipsec") {
    const ipsec = enc.ipsec!;
    const strictMode = toStrict(ipsec.strictMode);
    return {
      type: "ipsec",
      keyId: ipsec.keyId,
      algorithm: ipsec.algorithm,
      keyRotationDuration: ipsec.keyRotationDuration,
      ...(strictMode === undefined ? {} : { strictMode }),
    };
  }
  const wg = enc.wireguard ?? { nodeEncryption: false, persistentKeepalive: "0s", strictMode: undefined };
  const strictMode = toStrict(wg.strictMode);
  return {
    type: "wireguard",
    nodeEncryption: wg.nodeEncryption,
    persistentKeepalive: wg.persistentKeepalive,
    ...(strictMode === undefined ? {} : { strictMode }),
  };
}

/** What the chart values need to know of the encryption settings. */
export function encryptionValuesInput(enc: EncryptionSettings): EncryptionValuesInput {
  if (enc.type === "wireguard") return enc;
  return {
    type: "ipsec",
    secretName: IPSEC_SECRET_NAME,
    keyFile: IPSEC_KEY_FILE,
    keyRotationDuration: enc.keyRotationDuration,
    ...(enc.strictMode === undefined ? {} : { strictMode: enc.strictMode }),
  };
}

/** The Helm chart reference and repository for a chart source. */
export function helmChart(chart: ChartSource): { chart: string; repositoryOpts?: { repo: string } } {
  if (chart.kind === "path") return { chart: chart.path };
  if (chart.kind === "oci") return { chart: chart.ref };
  return { chart: chart.name, repositoryOpts: { repo: chart.repo } };
}

function chartSource(chart: Raw["cilium"]["chart"]): ChartSource {
  if (chart.path !== undefined) return { kind: "path", path: chart.path };
  const repo = chart.repo ?? DEFAULT_CHART_REPO;
  const name = chart.name ?? "cilium";
  // Helm takes an OCI chart as one reference and has no repository for it.
  return repo.startsWith("oci://") ? { kind: "oci", ref: `${repo.replace(/\/+$/, "")}/${name}` } : { kind: "repo", repo, name };
}

const key = (path: PropertyKey[]) => `${PROJECT}:${path.map(String).join(".")}`;

function schemaProblems(input: Record<string, unknown>, isSecret: (top: string) => boolean): string[] | Raw {
  const messages = (issues: z.core.$ZodIssue[]) =>
    issues.map((i) => ({
      top: String(i.path[0] ?? ""),
      lines: i.code === "unrecognized_keys" ? i.keys.map((k) => `${key([...i.path, k])}: ${i.message}`) : [`${key(i.path)}: ${i.message}`],
    }));
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  const plain = messages(parsed.error.issues);
  if (!plain.some((m) => isSecret(m.top))) return plain.flatMap((m) => m.lines);
  // zod renders messages when the error is first read, so read them while echoing is off.
  echo = false;
  let quiet: ReturnType<typeof messages>;
  try {
    const hidden = schema.safeParse(input);
    quiet = hidden.success ? [] : messages(hidden.error.issues);
  } finally {
    echo = true;
  }
  return plain.flatMap((m, i) => (isSecret(m.top) ? (quiet[i]?.lines ?? [`${key([m.top])}: ${SECRET_NOT_SHOWN}`]) : m.lines));
}

/**
 * Parses the project's config, as the Pulumi runtime hands it over (`pulumi.runtime.allConfig()`:
 * `<project>:<key>` → string, objects as JSON). Keys of other namespaces are ignored. `env` says which
 * keys are secret and reads the files paths point at.
 */
export function parseSettings(allConfig: Record<string, string>, env: SettingsEnv = hostEnv()): Settings {
  const entries: Array<[string, unknown]> = [];
  for (const [k, v] of Object.entries(allConfig)) {
    if (!k.startsWith(`${PROJECT}:`)) continue;
    let value: unknown = v;
    try {
      value = JSON.parse(v);
    } catch {
      // a plain string value stays a string; the schema says whether that is allowed
    }
    entries.push([k.slice(PROJECT.length + 1), value]);
  }
  // Own properties even for a key named `__proto__`, which assignment would take as the prototype and the schema would never see.
  const input: Record<string, unknown> = Object.fromEntries(entries);
  const isSecret = (top: string) => env.secretKeys.has(`${PROJECT}:${top}`);
  const showFor = (top: string): Show => (isSecret(top) ? () => SECRET_NOT_SHOWN : (v) => JSON.stringify(v));

  const raw = schemaProblems(input, isSecret);
  if (Array.isArray(raw)) throw new ConfigError(raw);
  const ciliumVersion = parseCiliumVersion(raw.cilium.version) as CiliumVersion;
  const warnings: string[] = [];
  const problems = [...crossFieldProblems(raw, ciliumVersion, showFor, warnings), ...fileProblems(raw, ciliumVersion, env, showFor)].map(
    ([path, msg]) => `${PROJECT}:${path}: ${msg}`,
  );
  if (problems.length > 0) throw new ConfigError(problems);

  const encryption = toEncryption(raw);
  const values = raw.cilium.values as Values;
  const valueProblems = userValueProblems(
    ciliumVersion,
    encryptionValues(ciliumVersion, encryptionValuesInput(encryption)),
    values,
    showFor("cilium"),
    showFor("encryption"),
  );
  if (valueProblems.length > 0) throw new ConfigError(valueProblems.map((p) => `${PROJECT}:cilium.values.${p}`));

  return {
    encryption,
    allowModeSwitch: raw.encryption.allowModeSwitch,
    cilium: {
      namespace: raw.cilium.namespace,
      version: ciliumVersion,
      chart: chartSource(raw.cilium.chart),
      values,
      releaseName: raw.cilium.releaseName,
      allowChartUpgrade: raw.cilium.allowChartUpgrade,
    },
    cluster: {
      ...(raw.cluster.kubeconfig === undefined ? {} : { kubeconfig: raw.cluster.kubeconfig }),
      ...(raw.cluster.context === undefined ? {} : { context: raw.cluster.context }),
    },
    clusterIsSecret: isSecret("cluster"),
    secretKeys: new Set(Object.keys(input).filter(isSecret)),
    verification: {
      enabled: raw.verification.enabled,
      timeoutSeconds: ceilSeconds((parseGoDuration(raw.verification.timeout) as { ns: bigint }).ns),
      wireCheck: raw.verification.wireCheck,
      images: { ...raw.verification.images },
    },
    warnings,
  };
}
