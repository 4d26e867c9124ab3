import { writeFileSync } from "node:fs";
import { ArgsError, parseFlags, parseVerifierArgs, USAGE, type VerifierArgs } from "./args";
import { expandStackFlag } from "./invocation";
import { createKubectl, type Kubectl } from "./kubectl";
import { digest, summarize } from "./report";
import { verify } from "./run";

// Thin entry point. stdout: the JSON report when verified (the Command keeps it as a stack
// output), a short JSON digest otherwise (it ends up in the error of a failed `pulumi up`);
// --report-file gets the full report either way. Everything for humans goes to stderr.
async function main(argv: readonly string[]): Promise<number> {
  let args: VerifierArgs;
  try {
    if (parseFlags(argv).help) {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    args = parseVerifierArgs(await expandStackFlag(argv, process.cwd()));
  } catch (e) {
    if (!(e instanceof ArgsError)) throw e;
    process.stderr.write(`verify: ${e.message}\n\n${USAGE}\n`);
    return 2;
  }
  let kubectl: Kubectl | null = null;
  try {
    const log = (line: string): void => {
      process.stderr.write(`verifier: ${line}\n`);
    };
    kubectl = createKubectl({ kubeconfig: args.kubeconfig, context: args.context, log });
    const report = await verify(args, {
      kubectl,
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      now: () => Date.now(),
      log,
    });
    const full = `${JSON.stringify(report, null, 2)}\n`;
    if (args.reportFile) writeFileSync(args.reportFile, full);
    process.stdout.write(report.exitCode === 0 ? full : `${JSON.stringify(digest(report, args.reportFile), null, 2)}\n`);
    process.stderr.write(`${summarize(report)}\n`);
    return report.exitCode;
  } catch (e) {
    // Whatever went wrong, encryption was not shown to be off: "could not verify".
    const error = `verifier crashed: ${(e as Error).message}`;
    process.stderr.write(`verify: ${(e as Error).stack ?? error}\n`);
    process.stdout.write(`${JSON.stringify({ verdict: "unverified", exitCode: 2, error }, null, 2)}\n`);
    return 2;
  } finally {
    kubectl?.close();
  }
}

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
