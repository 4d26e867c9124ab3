/**
 * `npm run drift -- --stack <name> [--json] [--verify]` (`--help` for usage): what changed out of band, per stack.
 * A refresh preview (recorded state vs the live cluster) and a preview with refresh (the program vs
 * the live cluster), neither of which writes state. Exit codes as `terraform plan -detailed-exitcode`:
 * 0 no drift, 2 drift, 1 error.
 */
import { spawn } from "node:child_process";
import { parseArgs } from "node:util";
import { CommandError, type EngineEvent, LocalWorkspace, StackNotFoundError } from "@pulumi/pulumi/automation";
import { type DriftReport, driftFromEvents, formatReport, hasDrift, mergeDrift } from "./report";

export const EXIT = { clean: 0, error: 1, drift: 2 } as const;

export interface DriftOptions {
  stack: string;
  json: boolean;
  verify: boolean;
  // With --verify: the wire check on or off, or null for the stack's verification.wireCheck.
  wireCheck: "on" | "off" | null;
  projectDir: string;
}

export const USAGE = `usage: npm run drift -- --stack <name> [--json] [--verify [--wire-check on|off]]

What changed out of band in a deployed stack, read from the live cluster; writes no state.
  --stack <name>  the stack to check (required)
  --json          print one JSON report instead of text
  --verify        also run the verifier: encryption found off counts as drift
  --wire-check on|off
                  with --verify: the verifier's wire check (default: the stack's
                  verification.wireCheck); off reads the agents only and creates no pods
  -h, --help      print this help
exit status: 0 no drift, 2 drift, 1 error`;

export class UsageError extends Error {
  override name = "UsageError";
}

export type DriftCommand = { help: true } | ({ help: false } & Omit<DriftOptions, "projectDir">);

export function parseDriftArgs(argv: readonly string[]): DriftCommand {
  const { values } = asUsageError(() =>
    parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        stack: { type: "string" },
        json: { type: "boolean", default: false },
        verify: { type: "boolean", default: false },
        "wire-check": { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    }),
  );
  if (values.help) return { help: true };
  if (values.stack === undefined || values.stack.trim() === "") throw new UsageError("--stack <name> is required");
  const wireCheck = values["wire-check"] ?? null;
  if (wireCheck !== null && wireCheck !== "on" && wireCheck !== "off") throw new UsageError(`--wire-check must be on or off; got ${JSON.stringify(wireCheck)}`);
  if (wireCheck !== null && !values.verify) throw new UsageError("--wire-check applies to --verify only");
  return { help: false, stack: values.stack, json: values.json, verify: values.verify, wireCheck };
}

/** parseArgs' own errors (an unknown flag, a missing value) are the user's: reported with the usage. */
function asUsageError<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

/** The engine's own error lines, without the CLI's usage noise. */
function engineError(e: unknown): string {
  if (e instanceof StackNotFoundError) return "no such stack in the selected backend (check the stack name and `pulumi login`)";
  if (e instanceof CommandError) {
    // The engine's causes: "error: …" lines and the "* …" items of multi-error messages, once each.
    const lines = e.message.split("\n").map((l) => l.trim());
    const causes = lines.filter((l) => /^(error: |\* )/.test(l) && !/(preview|update|refresh) failed$|error occurred:$/.test(l));
    return [...new Set(causes.length > 0 ? causes : lines.filter((l) => l !== "").slice(-3))].join("; ");
  }
  return (e as Error).message;
}

// The verifier runs beside the two previews: it reads the cluster, not the state, and at fleet scale
// it takes as long as they do.
function startVerifier(opts: DriftOptions): { verdict: Promise<DriftReport["encryption"]>; stop(): void } {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "verifier/main.ts", "--stack", opts.stack, ...(opts.wireCheck ? ["--wire-check", opts.wireCheck] : [])],
    {
      cwd: opts.projectDir,
      stdio: ["ignore", "pipe", "ignore"],
    },
  );
  const out: Buffer[] = [];
  child.stdout.on("data", (b: Buffer) => out.push(b));
  const verdict = new Promise<DriftReport["encryption"]>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (status) => {
      let report: { verdict: string; problems?: Array<{ node?: string; reason: string }>; error?: string | null; wire?: { verdict?: string } };
      try {
        report = JSON.parse(Buffer.concat(out).toString("utf8"));
      } catch {
        reject(new Error(`the verifier ended (exit ${status ?? "abnormally"}) without a report`));
        return;
      }
      if (status === 2) {
        reject(new Error(`the verifier could not verify encryption: ${report.error ?? report.problems?.map((p) => p.reason).join("; ")}`));
        return;
      }
      const problems = (report.problems ?? []).map((p) => (p.node ? `${p.node}: ${p.reason}` : p.reason));
      const agree = report.wire?.verdict === "skipped" ? "all agents agree (wire check off)" : "all agents and the wire check agree";
      resolve({ verdict: report.verdict, summary: problems.length === 0 ? agree : problems.join("; ") });
    });
  });
  // A failed preview ends the check; the verifier must not outlive it.
  verdict.catch(() => undefined);
  return { verdict, stop: () => child.kill("SIGTERM") };
}

export async function drift(opts: DriftOptions): Promise<{ report: DriftReport; exitCode: number }> {
  const stack = await LocalWorkspace.selectStack({ stackName: opts.stack, workDir: opts.projectDir });
  const verifier = opts.verify ? startVerifier(opts) : null;
  try {
    const refreshEvents: EngineEvent[] = [];
    await stack.previewRefresh({ onEvent: (e) => refreshEvents.push(e), color: "never" });
    const previewEvents: EngineEvent[] = [];
    await stack.preview({ refresh: true, onEvent: (e) => previewEvents.push(e), color: "never" });
    const report: DriftReport = {
      stack: opts.stack,
      drifted: mergeDrift(driftFromEvents(refreshEvents, "refresh"), driftFromEvents(previewEvents, "preview")),
    };
    if (verifier) report.encryption = await verifier.verdict;
    return { report, exitCode: hasDrift(report) ? EXIT.drift : EXIT.clean };
  } catch (e) {
    verifier?.stop();
    throw e;
  }
}

async function main(argv: readonly string[]): Promise<number> {
  let command: DriftCommand;
  try {
    command = parseDriftArgs(argv);
  } catch (e) {
    console.error(`drift: ${(e as Error).message}\n\n${USAGE}`);
    return EXIT.error;
  }
  if (command.help) {
    console.log(USAGE);
    return EXIT.clean;
  }
  const opts: DriftOptions = { stack: command.stack, json: command.json, verify: command.verify, wireCheck: command.wireCheck, projectDir: process.cwd() };
  try {
    const { report, exitCode } = await drift(opts);
    console.log(opts.json ? JSON.stringify({ ...report, exitCode }, null, 2) : formatReport(report));
    return exitCode;
  } catch (e) {
    const message = `stack ${opts.stack}: drift check failed: ${engineError(e)}`;
    console.log(opts.json ? JSON.stringify({ stack: opts.stack, error: message, exitCode: EXIT.error }, null, 2) : message);
    return EXIT.error;
  }
}

if (require.main === module) void main(process.argv.slice(2)).then((code) => (process.exitCode = code));
