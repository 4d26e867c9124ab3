import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";

export interface EncryptionVerificationArgs {
  mode: "ipsec" | "wireguard";
  namespace: string;
  ciliumVersion: string;
  kubeconfig?: string;
  context?: string;
  timeoutSeconds: number;
  wireCheck: boolean;
  /** WireGuard only: what the agents must report. */
  nodeEncryption?: boolean;
  strictMode?: boolean;
  /** Re-run the verification when any of these change (release revision, key id, mode). */
  triggers: pulumi.Input<unknown>[];
}

/** The verifier's command line. Holds no secret: the verifier reads agents, never the key Secret. */
export function verifierArgv(args: Omit<EncryptionVerificationArgs, "triggers">): string[] {
  const argv = ["node", "--import", "tsx", "verifier/main.ts", "--mode", args.mode, "--namespace", args.namespace];
  argv.push("--cilium-version", args.ciliumVersion, "--timeout", String(args.timeoutSeconds), "--wire-check", args.wireCheck ? "on" : "off");
  if (args.kubeconfig !== undefined) argv.push("--kubeconfig", args.kubeconfig);
  if (args.context !== undefined) argv.push("--context", args.context);
  if (args.nodeEncryption !== undefined) argv.push("--node-encryption", String(args.nodeEncryption));
  if (args.strictMode !== undefined) argv.push("--strict-mode", String(args.strictMode));
  return argv;
}

/** POSIX single-quoting, so config values can never be interpreted by the shell. */
export function shellJoin(argv: string[]): string {
  return argv.map((a) => (/^[\w./:=@+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(" ");
}

/**
 * Runs the verifier after the release is rolled out and fails the deployment when encryption is not
 * really on. Its stdout is the JSON report, which becomes a stack output.
 */
export class EncryptionVerification extends pulumi.ComponentResource {
  public readonly report: pulumi.Output<unknown>;

  constructor(name: string, args: EncryptionVerificationArgs, opts?: pulumi.ComponentResourceOptions) {
    super("cilium-encryption:index:EncryptionVerification", name, {}, opts);

    const run = new command.local.Command(
      `${name}-run`,
      {
        create: shellJoin(verifierArgv(args)),
        triggers: args.triggers,
        // Progress goes to stderr; stdout is the report and is kept out of the logs only to avoid noise.
        logging: "stderr",
        addPreviousOutputInEnv: false,
      },
      { parent: this, dependsOn: opts?.dependsOn },
    );

    this.report = run.stdout.apply((stdout) => JSON.parse(stdout) as unknown);
    this.registerOutputs({ report: this.report });
  }
}
