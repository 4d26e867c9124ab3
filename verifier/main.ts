import { writeFileSync } from "node:fs";
import { ArgsError, parseFlags, parseVerifierArgs, USAGE, type VerifierArgs } from "./args";
import { connectionSettings, errorLine, signalExitCode, unverified } from "./exit";
import { expandStackFlag } from "./invocation";
import { createKubectl, KubeconfigError, KubectlMissing, type OwnedKubectl } from "./kubectl";
import { digest, summarize } from "./report";
import { verify } from "./run";
import { Teardown } from "./teardown";

// Thin entry point. stdout: the JSON report when verified (the Command keeps it as a stack
// output), a short JSON digest otherwise (it ends up in the error of a failed `pulumi up`);
// --report-file gets the full report either way. Everything for humans goes to stderr, one line
// per problem, never a stack trace.

// A stopped run removes what it created within this, then exits: CI runners send SIGKILL a few
// seconds after their SIGINT/SIGTERM.
const TEARDOWN_MS = 10_000;
const STOP_SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

const log = (line: string): void => {
  process.stderr.write(`verifier: ${line}\n`);
};

const teardown = new Teardown();
let kubectl: OwnedKubectl | null = null;
let reportFile: string | null = null;
let ending = false;

function writeUnverified(exitCode: number, error: string): void {
  const text = `${JSON.stringify(unverified(exitCode, error), null, 2)}\n`;
  try {
    if (reportFile) writeFileSync(reportFile, text);
  } catch (e) {
    log(`cannot write the report file: ${errorLine(e)}`);
  }
  process.stdout.write(text);
}

/**
 * Ends a run that cannot finish (a signal, a crash): everything it started stops, what it created
 * in the cluster is removed, its private files go with the process ('exit' handlers), and it
 * reports "unverified". A second signal meanwhile does not cut the removal short.
 */
async function endEarly(exitCode: number, error: string): Promise<never> {
  if (ending) {
    log(`${error}: already stopping (at most ${TEARDOWN_MS / 1000}s)`);
    return new Promise<never>(() => undefined);
  }
  ending = true;
  process.stderr.write(`verify: ${error}\n`);
  if (kubectl) {
    kubectl.stop();
    const left = await teardown.stop(kubectl.runAfterStop, TEARDOWN_MS);
    if (left.length > 0) log(`could not remove ${left.join(", ")} in time; a later wire check deletes it once its lifetime has passed`);
    kubectl.close();
  }
  writeUnverified(exitCode, error);
  process.exit(exitCode);
}

for (const signal of STOP_SIGNALS) {
  process.on(signal, () => void endEarly(signalExitCode(signal), `stopped by ${signal} before the verification finished`));
}
process.on("uncaughtException", (e) => void endEarly(2, `verifier crashed: ${errorLine(e)}`));
process.on("unhandledRejection", (e) => void endEarly(2, `verifier crashed: ${errorLine(e)}`));

async function main(argv: readonly string[]): Promise<number> {
  const names = connectionSettings(argv, process.env);
  let args: VerifierArgs;
  try {
    if (parseFlags(argv).help) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    args = parseVerifierArgs(await expandStackFlag(argv, process.cwd()));
  } catch (e) {
    if (e instanceof ArgsError) {
      process.stderr.write(`verify: ${e.message}\n\n${USAGE}\n`);
      return 2;
    }
    const error = `cannot read the verification settings: ${errorLine(e)}`;
    process.stderr.write(`verify: ${error}\n`);
    writeUnverified(2, error);
    return 2;
  }
  reportFile = args.reportFile;
  try {
    kubectl = createKubectl({ kubeconfig: args.kubeconfig, context: args.context, log });
    const report = await verify(args, {
      kubectl,
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      now: () => Date.now(),
      log,
      teardown,
      connection: `${names.kubeconfig} and ${names.context}`,
    });
    // A stop or a crash that came meanwhile reports instead: one verdict per run.
    if (ending) return new Promise<number>(() => undefined);
    const full = `${JSON.stringify(report, null, 2)}\n`;
    if (args.reportFile) writeFileSync(args.reportFile, full);
    process.stdout.write(report.exitCode === 0 ? full : `${JSON.stringify(digest(report, args.reportFile), null, 2)}\n`);
    process.stderr.write(`${summarize(report)}\n`);
    return report.exitCode;
  } catch (e) {
    if (ending) return new Promise<number>(() => undefined);
    // Whatever went wrong, encryption was not shown to be off: "could not verify".
    const error =
      e instanceof KubectlMissing
        ? e.message
        : e instanceof KubeconfigError
          ? `${names[e.setting]}: ${e.message}${e.setting === "context" ? ` (the kubeconfig: ${names.kubeconfig}, or kubectl's default)` : ""}`
          : `verifier crashed: ${errorLine(e)}`;
    process.stderr.write(`verify: ${error}\n`);
    if (kubectl) await teardown.stop(kubectl.run, TEARDOWN_MS);
    writeUnverified(2, error);
    return 2;
  } finally {
    kubectl?.close();
  }
}

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
