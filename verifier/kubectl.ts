import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { isKubeconfigContents } from "../config/settings";

// The only place that starts processes. Always argv arrays (no shell), and nothing secret is
// ever passed: the verifier reads no Secret.

export interface KubectlResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
  timedOut: boolean;
}

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
}

export interface BackgroundProcess {
  // Resolves true once stderr matches, false if the process ended or the wait timed out first.
  waitForStderr(pattern: RegExp, timeoutMs: number): Promise<boolean>;
  done: Promise<KubectlResult>;
  kill(): void;
}

export interface Kubectl {
  run(args: readonly string[], opts?: RunOptions): Promise<KubectlResult>;
  start(args: readonly string[], opts?: RunOptions): BackgroundProcess;
}

export interface KubectlConfig {
  kubeconfig: string | null;
  context: string | null;
  binary?: string;
}

const DEFAULT_TIMEOUT_MS = 60_000;

/** A file only this user can read, removed when the verifier exits. */
function privateFile(contents: string): string {
  const dir = mkdtempSync(join(tmpdir(), "cilium-encryption-verify-"));
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "kubeconfig");
  writeFileSync(file, contents, { mode: 0o600 });
  return file;
}

/**
 * The kubeconfig the verifier's kubectl runs with. Nothing of the connection goes on a command line,
 * which every process listing on the machine shows: kubeconfig contents (inline config, as
 * `verify --stack` may carry them) go into a private file, and a context, which kubectl takes only
 * as --context, becomes the current-context of a private copy of the kubeconfig.
 */
export function kubeconfigFor(cfg: KubectlConfig): string | null {
  const path = cfg.kubeconfig && isKubeconfigContents(cfg.kubeconfig) ? privateFile(cfg.kubeconfig) : cfg.kubeconfig;
  if (!cfg.context) return path;
  const raw = execFileSync(cfg.binary ?? "kubectl", [...(path ? [`--kubeconfig=${path}`] : []), "config", "view", "--raw", "--flatten", "-o", "yaml"], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  const doc = (parse(raw) ?? {}) as { contexts?: Array<{ name?: string }>; "current-context"?: string };
  if (!(doc.contexts ?? []).some((c) => c.name === cfg.context)) throw new Error("the kubeconfig has no such context (see --context)");
  doc["current-context"] = cfg.context;
  return privateFile(stringify(doc));
}

export function createKubectl(cfg: KubectlConfig): Kubectl {
  const kubeconfig = kubeconfigFor(cfg);
  const global = kubeconfig ? [`--kubeconfig=${kubeconfig}`] : [];
  const binary = cfg.binary ?? "kubectl";

  const start = (args: readonly string[], opts: RunOptions = {}): BackgroundProcess => {
    const child = spawn(binary, [...global, ...args], { shell: false, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let stderr = "";
    let timedOut = false;
    const waiters: Array<() => void> = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => {
      stderr += b.toString("utf8");
      for (const w of [...waiters]) w();
    });
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGTERM");
    }, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const done = new Promise<KubectlResult>((resolve) => {
      child.on("error", (e) => {
        clearTimeout(timer);
        resolve({ code: null, stdout: Buffer.alloc(0), stderr: `cannot run ${binary}: ${e.message}`, timedOut: false });
      });
      child.on("close", (code) => {
        clearTimeout(timer);
        for (const w of [...waiters]) w();
        resolve({ code, stdout: Buffer.concat(out), stderr, timedOut });
      });
    });
    let ended = false;
    void done.then(() => {
      ended = true;
    });
    child.stdin.on("error", () => {
      // The process may exit before reading its input; its exit status tells what happened.
    });
    child.stdin.end(opts.input ?? "");
    return {
      done,
      kill: () => child.kill("SIGTERM"),
      waitForStderr: (pattern, timeoutMs) =>
        new Promise<boolean>((resolve) => {
          const check = (): void => {
            if (pattern.test(stderr)) finish(true);
            else if (ended) finish(false);
          };
          const t = setTimeout(() => finish(false), timeoutMs);
          const finish = (v: boolean): void => {
            clearTimeout(t);
            const i = waiters.indexOf(check);
            if (i >= 0) waiters.splice(i, 1);
            resolve(v);
          };
          waiters.push(check);
          void done.then(check);
          check();
        }),
    };
  };
  return { start, run: (args, opts) => start(args, opts).done };
}

export function describeFailure(r: KubectlResult): string {
  if (r.timedOut) return "kubectl timed out";
  const msg = r.stderr.trim().split("\n").slice(-3).join(" ").slice(0, 400);
  return `kubectl exited ${r.code ?? "abnormally"}${msg ? `: ${msg}` : ""}`;
}
