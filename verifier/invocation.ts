/**
 * How a stack's settings become the verifier's flags. One function serves the verification Command
 * of `pulumi up` and `npm run verify -- --stack`, so both check exactly the same things.
 */
import { hostEnv } from "../config/files";
import { parseSettings, type Settings } from "../config/settings";
import { type ConfigEngine, loadStackConfig } from "../config/stackFile";
import { IPSEC_STRICT_MODE_MIN_MINOR } from "../encryption/helmValues";
import { ArgsError, type FlagValues, parseFlags } from "./args";

export interface VerifierInvocation {
  mode: "ipsec" | "wireguard";
  namespace: string;
  ciliumVersion: string;
  kubeconfig?: string;
  context?: string;
  timeoutSeconds: number;
  wireCheck: boolean;
  /** WireGuard only: what the agents must report. */
  nodeEncryption?: boolean;
  /** Strict mode cilium-config must have: WireGuard, and IPsec from Cilium 1.19 (egress). */
  strictMode?: boolean;
  /** IPsec only: the key id (SPI) every node must announce, so a rotation is verified only once the agents use the new key. */
  keyId?: number;
  /** The wire check's images when not the verifier's defaults (a mirror). */
  workloadImage?: string;
  captureImage?: string;
}

export function invocationFromSettings(settings: Settings): VerifierInvocation {
  const { encryption, cilium, cluster, verification } = settings;
  return {
    mode: encryption.type,
    namespace: cilium.namespace,
    ciliumVersion: cilium.version.text,
    ...cluster,
    timeoutSeconds: verification.timeoutSeconds,
    wireCheck: verification.wireCheck,
    ...(verification.images.workload === undefined ? {} : { workloadImage: verification.images.workload }),
    ...(verification.images.capture === undefined ? {} : { captureImage: verification.images.capture }),
    ...(encryption.type === "wireguard"
      ? { nodeEncryption: encryption.nodeEncryption, strictMode: encryption.strictMode !== undefined }
      : {
          keyId: encryption.keyId,
          // Before 1.19 strict mode is WireGuard-only and the program sets none for IPsec.
          ...(cilium.version.minor >= IPSEC_STRICT_MODE_MIN_MINOR ? { strictMode: encryption.strictMode !== undefined } : {}),
        }),
  };
}

/** The flags; they hold no secret: the verifier reads agents, never the key Secret. */
export function verifierFlags(inv: VerifierInvocation): string[] {
  const argv = ["--mode", inv.mode, "--namespace", inv.namespace, "--cilium-version", inv.ciliumVersion];
  argv.push("--timeout", String(inv.timeoutSeconds), "--wire-check", inv.wireCheck ? "on" : "off");
  if (inv.kubeconfig !== undefined) argv.push("--kubeconfig", inv.kubeconfig);
  if (inv.context !== undefined) argv.push("--context", inv.context);
  if (inv.nodeEncryption !== undefined) argv.push("--node-encryption", String(inv.nodeEncryption));
  if (inv.strictMode !== undefined) argv.push("--strict-mode", String(inv.strictMode));
  if (inv.keyId !== undefined) argv.push("--key-id", String(inv.keyId));
  if (inv.workloadImage !== undefined) argv.push("--workload-image", inv.workloadImage);
  if (inv.captureImage !== undefined) argv.push("--capture-image", inv.captureImage);
  return argv;
}

/**
 * `--stack <name>` stands for the flags the stack's config implies; flags given next to it override
 * those (e.g. `--stack prod --wire-check off`). Without `--stack` the argv is returned as is. Secret
 * config is read as the engine reads it, and stays in this process: the expanded flags are the
 * verifier's own argv, never another process's command line.
 */
export async function expandStackFlag(argv: readonly string[], projectDir: string, engine?: ConfigEngine): Promise<string[]> {
  const i = argv.indexOf("--stack");
  if (i >= 0 && (argv[i + 1] === undefined || argv[i + 1]!.startsWith("--"))) throw new ArgsError("--stack needs a stack name");
  const given = parseFlags(argv);
  const { stack, help: _help, ...explicit } = given;
  if (stack === undefined) return [...argv];
  let fromStack: FlagValues;
  try {
    const { config, secretKeys } = await loadStackConfig(projectDir, stack, engine);
    fromStack = parseFlags(verifierFlags(invocationFromSettings(parseSettings(config, { ...hostEnv(secretKeys), cwd: projectDir }))));
  } catch (e) {
    throw new ArgsError(`--stack ${stack}: ${(e as Error).message}`);
  }
  const merged: FlagValues = { ...fromStack, ...explicit };
  return Object.entries(merged).flatMap(([k, v]) => [`--${k}`, String(v)]);
}
