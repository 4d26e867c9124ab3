import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { hostEnv, resolvePath } from "../config/files";
import { isKubeconfigContents } from "../config/settings";
import { CONTEXT_ENV } from "../verifier/args";
import { type VerifierInvocation, verifierFlags } from "../verifier/invocation";

export interface EncryptionVerificationArgs {
  /** What to verify and where; the verifier's own flags. */
  verifier: VerifierInvocation;
  /**
   * The user marked the connection settings secret. kubectl errors in the report and log can name
   * the context, so the report stays secret too.
   */
  connectionIsSecret?: boolean;
  /** Re-run the verification when any of these change (release revision, key id, mode). */
  triggers: pulumi.Input<unknown>[];
}

/** POSIX single-quoting, so config values can never be interpreted by the shell. */
export function shellJoin(argv: string[]): string {
  return argv.map((a) => (/^[\w./:=@+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(" ");
}

export const KUBECONFIG_DATA_ENV = "CILIUM_ENCRYPTION_KUBECONFIG_DATA";

/**
 * The verification command line and its environment. The command line is stored in state and shown
 * in previews, so the connection settings travel in the environment instead: a kubeconfig path as
 * KUBECONFIG (kubectl reads it), inline contents through a private temporary file, the context as a
 * variable the verifier reads.
 */
export function verifierCommand(inv: VerifierInvocation, where: { home: string; cwd: string }): { create: string; environment: Record<string, string> } {
  const { kubeconfig, context, ...rest } = inv;
  const environment: Record<string, string> = {};
  let create = shellJoin(["node", "--import", "tsx", "verifier/main.ts", ...verifierFlags(rest)]);
  // The verifier reads it from there itself: as an argument it would show in every process listing.
  if (context !== undefined) environment[CONTEXT_ENV] = context;
  if (kubeconfig !== undefined && isKubeconfigContents(kubeconfig)) {
    environment[KUBECONFIG_DATA_ENV] = kubeconfig;
    create = `umask 077 && kc=$(mktemp) && trap 'rm -f "$kc"' EXIT && printf '%s' "$${KUBECONFIG_DATA_ENV}" > "$kc" && ` + `KUBECONFIG="$kc" ${create}`;
  } else if (kubeconfig !== undefined) {
    environment.KUBECONFIG = resolvePath(where, kubeconfig);
  }
  return { create, environment };
}

/**
 * Runs the verifier after the release is rolled out and fails the deployment when encryption is not
 * really on. Its stdout is the JSON report, which becomes a stack output.
 */
export class EncryptionVerification extends pulumi.ComponentResource {
  public readonly report: pulumi.Output<unknown>;

  constructor(name: string, args: EncryptionVerificationArgs, opts?: pulumi.ComponentResourceOptions) {
    super("cilium-encryption:index:EncryptionVerification", name, {}, opts);

    const { create, environment } = verifierCommand(args.verifier, hostEnv());
    const run = new command.local.Command(
      `${name}-run`,
      {
        create,
        // Always secret: it holds nothing but connection settings, which are credentials or name them.
        environment: pulumi.secret(environment),
        triggers: args.triggers,
        // stdout is the report (kept as an output); progress and the summary on stderr go to the log.
        logging: "stderr",
        addPreviousOutputInEnv: false,
      },
      {
        parent: this,
        dependsOn: opts?.dependsOn,
        additionalSecretOutputs: args.connectionIsSecret ? ["environment", "stdout", "stderr"] : ["environment"],
      },
    );

    this.report = run.stdout.apply((stdout) => JSON.parse(stdout) as unknown);
    this.registerOutputs({ report: this.report });
  }
}
