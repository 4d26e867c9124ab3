import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { hostEnv, resolvePath } from "../config/files";
import { isKubeconfigContents, KUBECONFIG_DATA_ENV } from "../config/settings";
import { CONTEXT_ENV } from "../verifier/args";
import { FROM_STACK_ENV } from "../verifier/exit";
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

/**
 * VERIFIER with inline kubeconfig contents in a private temporary file that is removed however the
 * shell ends. dash runs no EXIT trap when a signal ends it, and runs no trap at all while it waits
 * for a command in the foreground, so the verifier runs in the background: a signal then reaches
 * the trap at once, is passed on to the verifier (which removes what it created in the cluster and
 * exits 128+signal), and the shell exits with the verifier's status once it has ended, removing
 * the file. Before the verifier starts a signal just ends the shell, removing the file.
 */
function withPrivateKubeconfig(verifier: string): string {
  return [
    `kc=; trap '[ -z "$kc" ] || rm -f "$kc"' EXIT; trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 143' TERM`,
    `umask 077 && kc=$(mktemp) && printf '%s' "$${KUBECONFIG_DATA_ENV}" > "$kc" || exit 2`,
    `KUBECONFIG="$kc" ${verifier} & pid=$!`,
    `trap 'kill -HUP "$pid" 2>/dev/null' HUP; trap 'kill -INT "$pid" 2>/dev/null' INT; trap 'kill -TERM "$pid" 2>/dev/null' TERM`,
    // A wait that a signal interrupted returns above 128 while the verifier still runs: wait again.
    `wait "$pid"; st=$?; while [ "$st" -gt 128 ] && kill -0 "$pid" 2>/dev/null; do wait "$pid"; st=$?; done; exit "$st"`,
  ].join("; ");
}

/**
 * The verification command line and its environment. The command line is stored in state and shown
 * in previews, so the connection settings travel in the environment instead: a kubeconfig path as
 * KUBECONFIG (kubectl reads it), inline contents through a private temporary file, the context as a
 * variable the verifier reads. The provider runs it with `sh -c`; the verifier itself gets the
 * signals sent to it, so a cancelled update stops it and it removes what it created.
 */
export function verifierCommand(inv: VerifierInvocation, where: { home: string; cwd: string }): { create: string; environment: Record<string, string> } {
  const { kubeconfig, context, ...rest } = inv;
  // Messages then name the stack's settings (cilium-encryption:cluster.*), not the verifier's flags.
  const environment: Record<string, string> = { [FROM_STACK_ENV]: "1" };
  const verifier = shellJoin(["node", "--import", "tsx", "verifier/main.ts", ...verifierFlags(rest)]);
  // The verifier reads it from there itself: as an argument it would show in every process listing.
  if (context !== undefined) environment[CONTEXT_ENV] = context;
  if (kubeconfig !== undefined && isKubeconfigContents(kubeconfig)) {
    environment[KUBECONFIG_DATA_ENV] = kubeconfig;
    return { create: withPrivateKubeconfig(verifier), environment };
  }
  if (kubeconfig !== undefined) environment.KUBECONFIG = resolvePath(where, kubeconfig);
  // exec: no shell stays between the provider and the verifier (dash would not pass a signal on).
  return { create: `exec ${verifier}`, environment };
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
