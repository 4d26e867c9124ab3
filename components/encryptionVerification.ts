import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { verifierFlags, type VerifierInvocation } from "../verifier/invocation";

export interface EncryptionVerificationArgs {
  /** What to verify and where; the verifier's own flags. */
  verifier: VerifierInvocation;
  /** Re-run the verification when any of these change (release revision, key id, mode). */
  triggers: pulumi.Input<unknown>[];
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
        create: shellJoin(["node", "--import", "tsx", "verifier/main.ts", ...verifierFlags(args.verifier)]),
        triggers: args.triggers,
        // stdout is the report (kept as an output); progress and the summary on stderr go to the log.
        logging: "stderr",
        addPreviousOutputInEnv: false,
      },
      { parent: this, dependsOn: opts?.dependsOn },
    );

    this.report = run.stdout.apply((stdout) => JSON.parse(stdout) as unknown);
    this.registerOutputs({ report: this.report });
  }
}
