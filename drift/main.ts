/**
 * `npm run drift -- --stack <name> [--json] [--verify]` (`--help` for usage): what changed out of band, per stack.
 * A refresh preview (recorded state vs the live cluster) and a preview with refresh (the program vs
 * the live cluster), neither of which writes state. Exit codes as `terraform plan -detailed-exitcode`:
 * 0 no drift, 2 drift, 1 error.
 */
import { spawn } from "node:child_process";
import { parseArgs } from "node:util";
import { CommandError, type EngineEvent, LocalWorkspace, StackNotFoundError } from "@pulumi/pulumi/automation";
import { parse } from "yaml";
import { PROJECT } from "../config/settings";
import { type ConfigEngine, plainStackConfig, pulumiCliConfig } from "../config/stackFile";
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
    if (/\bENOENT\b/.test(e.message) && /\bpulumi\b/.test(e.message)) return "pulumi is not on PATH; install the Pulumi CLI";
    // The engine's causes: "error: …" lines and the "* …" items of multi-error messages, once each.
    const lines = e.message.split("\n").map((l) => l.trim());
    const causes = lines.filter((l) => /^(error: |\* )/.test(l) && !/(preview|update|refresh) failed$|error occurred:$/.test(l));
    return [...new Set(causes.length > 0 ? causes : lines.filter((l) => l !== "").slice(-3))].join("; ");
  }
  return (e as Error).message;
}

/**
 * What of a secret `cluster` config a message could carry: the context, the kubeconfig path or, for
 * inline contents, each of its values and each server's host and host:port (kubectl's connection
 * errors name those). `apiVersion` and `kind` say nothing about the cluster.
 */
export function secretClusterStrings(clusterJson: string): string[] {
  let cluster: { kubeconfig?: unknown; context?: unknown };
  try {
    cluster = JSON.parse(clusterJson) as typeof cluster;
  } catch {
    return [clusterJson];
  }
  const out = new Set<string>();
  const leaves = (value: unknown, key?: string): void => {
    if (typeof value === "string") {
      if (key === "apiVersion" || key === "kind") return;
      out.add(value);
      if (key === "server" && URL.canParse(value)) {
        const url = new URL(value);
        out.add(url.host);
        out.add(url.hostname.replace(/^\[|\]$/g, ""));
      }
    } else if (Array.isArray(value)) {
      for (const v of value) leaves(v);
    } else if (typeof value === "object" && value !== null) {
      for (const [k, v] of Object.entries(value)) leaves(v, k);
    }
  };
  if (typeof cluster.context === "string") out.add(cluster.context);
  if (typeof cluster.kubeconfig === "string") {
    out.add(cluster.kubeconfig);
    let contents: unknown;
    try {
      contents = parse(cluster.kubeconfig);
    } catch {
      contents = undefined;
    }
    if (typeof contents === "object" && contents !== null) leaves(contents);
  }
  return [...out].filter((s) => s !== "");
}

/**
 * Each secret as a whole word replaced by `[secret]`: a context named `ci` masks `ci` and `ci-1`,
 * not `cilium`. Longest first, so a value containing another is masked whole.
 */
export function maskSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) {
    const escaped = secret.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    out = out.replace(new RegExp(`(?<![A-Za-z0-9])${escaped}(?![A-Za-z0-9])`, "g"), "[secret]");
  }
  return out;
}

/**
 * The strings of the stack's `cluster` config to keep out of what drift prints, when the user marked
 * it secret. Only a stack file with secrets is decrypted; with none, nothing is secret here (a missing
 * stack file is the previews' to report).
 */
export async function secretsToMask(projectDir: string, stack: string, engine: ConfigEngine = pulumiCliConfig): Promise<string[]> {
  let plain: ReturnType<typeof plainStackConfig>;
  try {
    plain = plainStackConfig(projectDir, stack);
  } catch {
    return [];
  }
  if (!("engine" in plain)) return [];
  const { config, secretKeys } = await engine(projectDir, stack);
  const key = `${PROJECT}:cluster`;
  return secretKeys.has(key) && config[key] !== undefined ? secretClusterStrings(config[key]) : [];
}

/** Why the verifier could not give a verdict, with the last lines it wrote on stderr (its progress and reasons). */
export class VerifierFailure extends Error {
  override name = "VerifierFailure";
  constructor(
    message: string,
    readonly stderr: string[],
  ) {
    super(message);
  }
}

/** Lines of the verifier's stderr shown when it fails: enough for its last round and summary. */
export const STDERR_LINES = 12;
const STDERR_KEEP_BYTES = 64 * 1024;
const LINE_CHARS = 400;

/** The last lines worth reading: no blank lines, JavaScript stack frames or usage text, each line bounded. */
export function stderrTail(text: string): string[] {
  const usage = text.search(/^usage: /m);
  return (usage >= 0 ? text.slice(0, usage) : text)
    .split("\n")
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() !== "" && !/^\s+at /.test(l))
    .slice(-STDERR_LINES)
    .map((l) => (l.length > LINE_CHARS ? `${l.slice(0, LINE_CHARS)}…` : l));
}

interface VerifierReport {
  verdict: string;
  problems?: Array<{ node?: string | null; reason: string }>;
  error?: string | null;
  wire?: { verdict?: string };
}

/** The verifier's exit status and output → drift's verdict on encryption, or why there is none. */
export function verifierOutcome(status: number | null, stdout: string, stderr: string): DriftReport["encryption"] | VerifierFailure {
  const tail = stderrTail(stderr);
  let report: VerifierReport;
  try {
    report = JSON.parse(stdout) as VerifierReport;
  } catch {
    return new VerifierFailure(`the verifier ended (exit ${status ?? "abnormally"}) without a report`, tail);
  }
  if (status === 2 || (status !== 0 && status !== 1)) {
    const why = report.error || (report.problems ?? []).map((p) => p.reason).join("; ") || `exit ${status ?? "abnormally"}`;
    return new VerifierFailure(`the verifier could not verify encryption: ${why}`, tail);
  }
  const problems = (report.problems ?? []).map((p) => (p.node ? `${p.node}: ${p.reason}` : p.reason));
  const agree = report.wire?.verdict === "skipped" ? "all agents agree (wire check off)" : "all agents and the wire check agree";
  return { verdict: report.verdict, summary: problems.length === 0 ? agree : problems.join("; ") };
}

// The verifier runs beside the two previews: it reads the cluster, not the state, and at fleet scale
// it takes as long as they do. It reads the stack's config itself (secret config included), so
// nothing of the connection is on its command line.
export function startVerifier(opts: DriftOptions): { verdict: Promise<DriftReport["encryption"]>; stop(): void } {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "verifier/main.ts", "--stack", opts.stack, ...(opts.wireCheck ? ["--wire-check", opts.wireCheck] : [])],
    {
      cwd: opts.projectDir,
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  const out: Buffer[] = [];
  child.stdout.on("data", (b: Buffer) => out.push(b));
  // Its progress can run to thousands of lines on a large cluster; only the end tells why it failed.
  let err = "";
  child.stderr.on("data", (b: Buffer) => {
    err += b.toString("utf8");
    if (err.length > 2 * STDERR_KEEP_BYTES) err = err.slice(-STDERR_KEEP_BYTES);
  });
  const verdict = new Promise<DriftReport["encryption"]>((resolve, reject) => {
    child.on("error", (e) => reject(new VerifierFailure(`cannot start the verifier: ${e.message}`, [])));
    child.on("close", (status) => {
      const outcome = verifierOutcome(status, Buffer.concat(out).toString("utf8"), err);
      if (outcome instanceof VerifierFailure) reject(outcome);
      else resolve(outcome);
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

/** What drift prints when it fails, secrets of the cluster config masked. */
export function failureOutput(stack: string, e: unknown, secrets: readonly string[], json: boolean): string {
  const mask = (t: string) => maskSecrets(t, secrets);
  const error = mask(`stack ${stack}: drift check failed: ${engineError(e)}`);
  const stderr = e instanceof VerifierFailure ? e.stderr.map(mask) : [];
  if (json) return JSON.stringify({ stack, error, ...(stderr.length > 0 ? { verifierStderr: stderr } : {}), exitCode: EXIT.error }, null, 2);
  return stderr.length > 0 ? `${error}\nthe verifier's last lines on stderr:\n${stderr.map((l) => `  ${l}`).join("\n")}` : error;
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
  let secrets: string[] = [];
  try {
    secrets = await secretsToMask(opts.projectDir, opts.stack);
    const { report, exitCode } = await drift(opts);
    if (report.encryption !== undefined) report.encryption.summary = maskSecrets(report.encryption.summary, secrets);
    console.log(opts.json ? JSON.stringify({ ...report, exitCode }, null, 2) : formatReport(report));
    return exitCode;
  } catch (e) {
    console.log(failureOutput(opts.stack, e, secrets, opts.json));
    return EXIT.error;
  }
}

if (require.main === module) void main(process.argv.slice(2)).then((code) => (process.exitCode = code));
