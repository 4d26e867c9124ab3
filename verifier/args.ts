import { parseArgs } from "node:util";
import { type CiliumVersion, requireCiliumVersion } from "../encryption/ciliumVersion";
import { DEFAULT_CAPTURE_IMAGE, DEFAULT_WORKLOAD_IMAGE, imageReferenceProblem } from "./images";

export type EncryptionMode = "ipsec" | "wireguard";

export interface VerifierArgs {
  mode: EncryptionMode;
  namespace: string;
  ciliumVersion: CiliumVersion;
  kubeconfig: string | null;
  context: string | null;
  timeoutSeconds: number;
  wireCheck: boolean;
  nodeEncryption: boolean | null;
  strictMode: boolean | null;
  // IPsec: the key id (SPI) every node must announce in its CiliumNode; null: not checked.
  keyId: number | null;
  pollIntervalSeconds: number;
  concurrency: number;
  reportFile: string | null;
  workloadImage: string;
  captureImage: string;
}

// Agents asked at once. Every query is one `kubectl exec`, a stream through the API server to the
// node's kubelet; 16 keeps a 1,000-node cluster to a few dozen rounds of streams without crowding
// the API server's long-running requests.
export const DEFAULT_CONCURRENCY = 16;
/** --timeout's upper bound: no run waits longer (config/settings.ts keeps the stack's timeout within it). */
export const MAX_TIMEOUT_SECONDS = 86400;
/** Where the verification Command puts a kubeconfig context (secret config must stay off command lines). */
export const CONTEXT_ENV = "CILIUM_ENCRYPTION_CONTEXT";

export class ArgsError extends Error {
  override name = "ArgsError";
}

export const USAGE = `usage: npm run verify -- --stack <name> [flags to override the stack's]
       node --import tsx verifier/main.ts --mode <ipsec|wireguard> --namespace <ns> --cilium-version <x.y.z> [flags]

Proves that Cilium transparent encryption is on: asks every agent, optionally checks the wire.
  --stack <name>              take every flag the stack implies (mode, version, key id, ...) from Pulumi.<name>.yaml
  --mode <ipsec|wireguard>    the encryption mode every agent must report
  --namespace <ns>            Cilium's namespace
  --cilium-version <x.y.z>    the deployed chart version, 1.16.x to 1.20.x
  --kubeconfig <path>         kubeconfig file (default: kubectl's)
  --context <name>            kubeconfig context (default: the current one)
  --timeout <seconds>         bound on the rollout wait and the reads (default 600)
  --wire-check <on|off>       capture traffic between two nodes (default on)
  --node-encryption <true|false>  WireGuard: node encryption the agents must report
  --strict-mode <true|false>  strict mode cilium-config must have
  --key-id <1-15>             IPsec: the key id every node must announce in its CiliumNode (after a rotation)
  --poll-interval <seconds>   pause between rounds of reads (default 5)
  --concurrency <n>           agents asked at once, 1 to 256 (default ${DEFAULT_CONCURRENCY})
  --report-file <path>        also write the full JSON report there
  --workload-image <ref>      image of the wire check's client and server pods (<registry>/<repo>[:tag][@sha256:...])
  --capture-image <ref>       image of the wire check's capture pods (same form)
  -h, --help                  print this help
stdout: the JSON report when verified, a short JSON digest otherwise; stderr: progress and summary.
exit status: 0 verified, 1 not encrypted, 2 could not verify or bad arguments`;

const OPTIONS = {
  mode: { type: "string" },
  namespace: { type: "string" },
  "cilium-version": { type: "string" },
  kubeconfig: { type: "string" },
  context: { type: "string" },
  timeout: { type: "string" },
  "wire-check": { type: "string" },
  "node-encryption": { type: "string" },
  "strict-mode": { type: "string" },
  "key-id": { type: "string" },
  "poll-interval": { type: "string" },
  concurrency: { type: "string" },
  "report-file": { type: "string" },
  "workload-image": { type: "string" },
  "capture-image": { type: "string" },
  stack: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

export type FlagValues = Partial<Record<Exclude<keyof typeof OPTIONS, "help">, string>> & { help?: boolean };

// node:util parseArgs, plus what it lets through: a flag given twice (it keeps the last one).
export function parseFlags(argv: readonly string[]): FlagValues {
  const parsed = asArgsError(() => parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false, tokens: true }));
  const seen = new Set<string>();
  for (const t of parsed.tokens) {
    if (t.kind !== "option") continue;
    if (seen.has(t.name)) throw new ArgsError(`--${t.name} given more than once`);
    seen.add(t.name);
  }
  return parsed.values as FlagValues;
}

/** parseArgs' own errors (an unknown flag, a missing value) are the user's: reported as ArgsError. */
function asArgsError<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    throw new ArgsError((e as Error).message);
  }
}

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new ArgsError(`--${flag} must be one of ${allowed.join(", ")}; got ${JSON.stringify(value)}`);
}

function seconds(flag: string, value: string, min: number, max: number): number {
  const n = /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) {
    throw new ArgsError(`--${flag} must be a number of seconds from ${min} to ${max}; got ${JSON.stringify(value)}`);
  }
  return n;
}

function nonEmpty(flag: string, value: string): string {
  if (value.trim() === "" || value.startsWith("-")) {
    throw new ArgsError(`--${flag} needs a value, got ${JSON.stringify(value)}`);
  }
  return value;
}

// cilium v1.16.19-v1.20.2 pkg/datapath/linux/linux_defaults/linux_defaults.go IPsecMaxKeyVersion = 15,
// and the key file parser refuses 0 and anything above it (ipsec_linux.go parseSPI).
const IPSEC_MAX_KEY_ID = 15;

function ipsecKeyId(mode: EncryptionMode, value: string): number {
  if (mode !== "ipsec") {
    throw new ArgsError("--key-id is for IPsec only: WireGuard agents announce no key id of their own (their CiliumNode carries the constant 255)");
  }
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1 && n <= IPSEC_MAX_KEY_ID)) throw new ArgsError(`--key-id must be a whole number from 1 to ${IPSEC_MAX_KEY_ID}; got ${JSON.stringify(value)}`);
  return n;
}

// Kubernetes namespace names are DNS-1123 labels; checking here gives a clear message instead of
// a kubectl error after the rollout wait.
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export function argsFromFlags(f: FlagValues): VerifierArgs {
  if (f.stack !== undefined) throw new ArgsError("--stack is expanded before the flags are read");
  const required = (name: "mode" | "namespace" | "cilium-version"): string => {
    const v = f[name];
    if (v === undefined) throw new ArgsError(`--${name} is required`);
    return v;
  };
  const mode = oneOf("mode", required("mode"), ["ipsec", "wireguard"] as const);
  const namespace = required("namespace");
  if (!DNS_LABEL.test(namespace)) {
    throw new ArgsError(`--namespace must be a Kubernetes namespace name (DNS-1123 label); got ${JSON.stringify(namespace)}`);
  }
  let ciliumVersion: CiliumVersion;
  try {
    ciliumVersion = requireCiliumVersion(required("cilium-version"));
  } catch (e) {
    if (e instanceof ArgsError) throw e;
    throw new ArgsError(`--cilium-version: ${(e as Error).message}`);
  }
  const bool = (name: "node-encryption" | "strict-mode"): boolean | null => {
    const v = f[name];
    return v === undefined ? null : oneOf(name, v, ["true", "false"] as const) === "true";
  };
  const optional = (name: "kubeconfig" | "context" | "report-file"): string | null => {
    const v = f[name];
    return v === undefined ? null : nonEmpty(name, v);
  };
  const image = (name: "workload-image" | "capture-image", fallback: string): string => {
    const v = f[name];
    if (v === undefined) return fallback;
    const problem = imageReferenceProblem(v);
    if (problem !== null) throw new ArgsError(`--${name} ${problem}; got ${JSON.stringify(v)}`);
    return v;
  };
  const keyId = f["key-id"] === undefined ? null : ipsecKeyId(mode, f["key-id"]);
  const concurrency = f.concurrency === undefined ? DEFAULT_CONCURRENCY : Number(f.concurrency);
  if (!/^\d+$/.test(f.concurrency ?? "1") || !(concurrency >= 1 && concurrency <= 256)) {
    throw new ArgsError(`--concurrency must be a whole number from 1 to 256; got ${JSON.stringify(f.concurrency)}`);
  }
  return {
    mode,
    namespace,
    ciliumVersion,
    kubeconfig: optional("kubeconfig"),
    // The verification Command passes a context in its environment, never on a command line.
    context: optional("context") ?? (process.env[CONTEXT_ENV] || null),
    timeoutSeconds: f.timeout === undefined ? 600 : seconds("timeout", f.timeout, 1, MAX_TIMEOUT_SECONDS),
    wireCheck: f["wire-check"] === undefined ? true : oneOf("wire-check", f["wire-check"], ["on", "off"] as const) === "on",
    nodeEncryption: bool("node-encryption"),
    strictMode: bool("strict-mode"),
    keyId,
    pollIntervalSeconds: f["poll-interval"] === undefined ? 5 : seconds("poll-interval", f["poll-interval"], 0.05, 300),
    concurrency,
    reportFile: optional("report-file"),
    workloadImage: image("workload-image", DEFAULT_WORKLOAD_IMAGE),
    captureImage: image("capture-image", DEFAULT_CAPTURE_IMAGE),
  };
}

// The flags without --stack (tests, and the argv a stack expands to).
export function parseVerifierArgs(argv: readonly string[]): VerifierArgs {
  const f = parseFlags(argv);
  if (f.help) throw new ArgsError("--help is not a verification flag");
  return argsFromFlags(f);
}
