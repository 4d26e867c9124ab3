import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import WebSocket from "ws";
import { parse, stringify } from "yaml";
import { isKubeconfigContents } from "../config/settings";
import { EXEC_PROTOCOLS, execPath, execStatus, STREAM_ERROR, STREAM_STDERR, STREAM_STDOUT, upgradeRefusal } from "./podExec";

// The only place that starts processes. Always argv arrays (the two shell scripts below get paths
// and arguments as arguments or input, never spliced into the script), and nothing secret is ever
// passed: the verifier reads no Secret.

export interface KubectlResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
  timedOut: boolean;
  // What ran: a kubectl process, or a command in a pod through the API (`exec`).
  via?: "exec";
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

export interface ExecTarget {
  namespace: string;
  pod: string;
  container?: string;
}

export interface Kubectl {
  run(args: readonly string[], opts?: RunOptions): Promise<KubectlResult>;
  start(args: readonly string[], opts?: RunOptions): BackgroundProcess;
  // A command in a pod, as `kubectl exec` runs it (exit code, stdout, stderr), without a kubectl
  // process per command: at a thousand agents those processes were most of the verifier's time.
  exec(target: ExecTarget, command: readonly string[], opts?: Omit<RunOptions, "input">): BackgroundProcess;
  close(): void;
}

/** The kubectl a run owns: everything it started can be ended at once (a signal) while its cleanup still runs commands. */
export interface OwnedKubectl extends Kubectl {
  /** Ends every kubectl process and exec stream now; from then on only `runAfterStop` starts anything. */
  stop(): void;
  runAfterStop(args: readonly string[], opts?: RunOptions): Promise<KubectlResult>;
}

/** kubectl is not there to run: nothing can be read. */
export class KubectlMissing extends Error {
  override name = "KubectlMissing";
}

/** kubectl cannot use the kubeconfig it was given (unreadable, or without the context asked for). */
export class KubeconfigError extends Error {
  override name = "KubeconfigError";
  constructor(
    message: string,
    /** The setting to fix. */
    readonly setting: "kubeconfig" | "context",
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface KubectlConfig {
  kubeconfig: string | null;
  context: string | null;
  binary?: string;
  log?: (line: string) => void;
}

const DEFAULT_TIMEOUT_MS = 60_000;
const PROXY_START_MS = 30_000;
const STOPPED = "the verification was stopped";

// Runs "$@" (kubectl proxy) as its child, passes on its output and exit status, and ends it once
// its own standard input closes: the verifier closes it to stop the proxy, the kernel when the
// verifier dies, SIGKILL included. `kill 0` signals this shell's process group (a session of its
// own), never a pid the system may have given to another process since. An asynchronous command's
// standard input is /dev/null in a non-interactive shell, hence the watcher reads a copy on fd 3.
// The proxy ending first ends the watcher the same way, the shell itself ignoring that signal.
const PROXY_WRAPPER =
  'exec 3<&0; "$@" 3<&- & p=$!; { IFS= read -r _ <&3; kill 0; } >/dev/null 2>&1 & exec 3<&-; wait "$p"; s=$?; trap "" TERM; kill 0; exit "$s"';

/** Whether BINARY can be run as spawn would find it: a path as is, a bare name on PATH. */
export function onPath(binary: string, path: string | undefined): boolean {
  const candidates = binary.includes("/") ? [binary] : (path ?? "").split(delimiter).map((dir) => join(dir || ".", binary));
  return candidates.some((file) => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

const PRIVATE_PREFIX = "cilium-encryption-verify-";
// sun_path of a Unix socket address holds 108 bytes with its final NUL (Linux include/uapi/linux/un.h).
const SOCKET_PATH_MAX = 107;

/**
 * Where the proxy's socket directory goes: TMPDIR, unless its path is too long for the socket's
 * address (a deep work directory), then /tmp. Either way the directory is private to this user.
 */
export function socketBase(tmp: string): string {
  return Buffer.byteLength(join(tmp, `${PRIVATE_PREFIX}XXXXXX`, "api.sock")) <= SOCKET_PATH_MAX ? tmp : "/tmp";
}

// What the verifier leaves must go however it ends, and 'exit' handlers run on every end but
// SIGKILL, which CI runners send a few seconds after SIGTERM. What outlives any end is a pipe: the
// kernel closes the verifier's end when the verifier dies, however it dies, and a shell reading the
// other end acts on that end of file. Each such shell runs in a session of its own (detached), so a
// signal to the verifier's process group (Ctrl-C, a runner ending the job) does not end it first.

// Removes, at the end of its input, the directories it reads one a line (spaces kept: IFS= and
// -r). Only names as mkdtemp makes them: a TMPDIR holding a newline would split a path into lines.
const DIR_GUARD = `while IFS= read -r d; do case $d in */${PRIVATE_PREFIX}??????) set -- "$@" "$d" ;; esac; done; rm -rf -- "$@"`;
let dirGuard: ChildProcess | null = null;

function guardDir(dir: string): void {
  if (!dirGuard) {
    dirGuard = spawn("/bin/sh", ["-c", DIR_GUARD], { detached: true, stdio: ["pipe", "ignore", "ignore"] });
    // Without it (no /bin/sh, or it died), the 'exit' handlers still remove the directories on every end but SIGKILL.
    dirGuard.on("error", () => undefined);
    dirGuard.stdin?.on("error", () => undefined);
    // The guard waits for the verifier to end: it must not keep it alive.
    dirGuard.unref();
    (dirGuard.stdin as Socket | null)?.unref();
  }
  dirGuard.stdin?.write(`${resolve(dir)}\n`);
}

/** A directory only this user can read, removed when the verifier exits, SIGKILL included. */
function privateDir(base = tmpdir()): string {
  const dir = mkdtempSync(join(base, PRIVATE_PREFIX));
  guardDir(dir);
  process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function privateFile(contents: string): string {
  const file = join(privateDir(), "kubeconfig");
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
  let raw: string;
  try {
    raw = execFileSync(cfg.binary ?? "kubectl", [...(path ? [`--kubeconfig=${path}`] : []), "config", "view", "--raw", "--flatten", "-o", "yaml"], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
  } catch (e) {
    // kubectl names the file it could not read, whose path may be a secret setting: not repeated. The
    // cause (kubectl's command line) is kept for a debugger, never printed.
    const files = [path, ...(process.env.KUBECONFIG ?? "").split(delimiter)].filter((f): f is string => !!f);
    const last =
      String((e as { stderr?: unknown }).stderr ?? "")
        .trim()
        .split("\n")
        .pop() || "kubectl config view failed";
    const said = files.reduce((text, f) => text.split(f).join("<the kubeconfig>"), last.replace(/^error: /, ""));
    throw new KubeconfigError(`kubectl cannot read the kubeconfig: ${said}`, "kubeconfig", { cause: e });
  }
  const doc = (parse(raw) ?? {}) as { contexts?: Array<{ name?: string }>; "current-context"?: string };
  if (!(doc.contexts ?? []).some((c) => c.name === cfg.context)) throw new KubeconfigError("the kubeconfig has no such context", "context");
  doc["current-context"] = cfg.context;
  return privateFile(stringify(doc));
}

// What a process or an exec stream wrote, and who waits for its stderr.
class Output {
  private readonly out: Buffer[] = [];
  stderr = "";
  private ended = false;
  private readonly waiters: Array<() => void> = [];

  stdout(b: Buffer): void {
    this.out.push(b);
  }
  err(text: string): void {
    this.stderr += text;
    this.wake();
  }
  end(code: number | null, timedOut: boolean, via?: "exec"): KubectlResult {
    this.ended = true;
    this.wake();
    return { code, stdout: Buffer.concat(this.out), stderr: this.stderr, timedOut, ...(via ? { via } : {}) };
  }
  private wake(): void {
    for (const w of [...this.waiters]) w();
  }
  waitForStderr(pattern: RegExp, timeoutMs: number): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const check = (): void => {
        if (pattern.test(this.stderr)) finish(true);
        else if (this.ended) finish(false);
      };
      const t = setTimeout(() => finish(false), timeoutMs);
      const finish = (v: boolean): void => {
        clearTimeout(t);
        const i = this.waiters.indexOf(check);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(v);
      };
      this.waiters.push(check);
      check();
    });
  }
}

export function createKubectl(cfg: KubectlConfig): OwnedKubectl {
  const binary = cfg.binary ?? "kubectl";
  if (!onPath(binary, process.env.PATH)) {
    throw new KubectlMissing(`${binary} is not on PATH: the verifier reads the cluster with kubectl (install it, or add its directory to PATH)`);
  }
  const kubeconfig = kubeconfigFor(cfg);
  const global = kubeconfig ? [`--kubeconfig=${kubeconfig}`] : [];
  // How to end each process it started that is still running.
  const running = new Set<() => void>();
  const streams = new Set<WebSocket>();
  let stopped = false;

  // One kubectl process, what it writes into OUTPUT. Once stopped, nothing starts but cleanup.
  const spawnInto = (args: readonly string[], opts: RunOptions, output: Output, afterStop = false): { done: Promise<KubectlResult>; kill(): void } => {
    if (stopped && !afterStop) {
      output.err(STOPPED);
      return { done: Promise.resolve(output.end(null, false)), kill: () => undefined };
    }
    const child = spawn(binary, [...global, ...args], { shell: false, stdio: ["pipe", "pipe", "pipe"] });
    const kill = (): void => {
      child.kill("SIGTERM");
    };
    running.add(kill);
    let timedOut = false;
    child.stdout.on("data", (b: Buffer) => output.stdout(b));
    child.stderr.on("data", (b: Buffer) => output.err(b.toString("utf8")));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGTERM");
    }, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    const done = new Promise<KubectlResult>((resolve) => {
      child.on("error", (e) => {
        clearTimeout(timer);
        running.delete(kill);
        output.err(`cannot run ${binary}: ${e.message}`);
        resolve({ ...output.end(null, false), stdout: Buffer.alloc(0) });
      });
      child.on("close", (code) => {
        clearTimeout(timer);
        running.delete(kill);
        resolve(output.end(code, timedOut));
      });
    });
    child.stdin.on("error", () => {
      // The process may exit before reading its input; its exit status tells what happened.
    });
    child.stdin.end(opts.input ?? "");
    return { done, kill };
  };

  const start = (args: readonly string[], opts: RunOptions = {}): BackgroundProcess => {
    const output = new Output();
    return { ...spawnInto(args, opts, output), waitForStderr: (p, t) => output.waitForStderr(p, t) };
  };

  // `kubectl exec` runs over SPDY (a POST, RBAC verb create on pods/exec) when the API server
  // refuses the WebSocket upgrade, as kubectl itself falls back: exec over WebSocket is a GET, which
  // RBAC authorizes as get, and roles written for kubectl often grant create only. From the first
  // refusal on, every command goes through a kubectl process.
  let viaKubectl = false;
  const kubectlExec = (target: ExecTarget, command: readonly string[]): string[] => [
    ...["-n", target.namespace],
    "exec",
    target.pod,
    ...(target.container ? ["-c", target.container] : []),
    "--",
    ...command,
  ];

  // Commands in pods go through one `kubectl proxy` on a socket in a private directory: kubectl
  // keeps every way a kubeconfig can authenticate, and the verifier speaks the API's exec
  // protocol to it. The proxy accepts nothing but pod exec. It holds the user's credentials, so it
  // runs under PROXY_WRAPPER and ends when its standard input closes, however the verifier ends.
  let proxy: Promise<string> | null = null;
  const proxySocket = (): Promise<string> => {
    if (stopped) return Promise.reject(new Error(STOPPED));
    proxy ??= new Promise<string>((resolve, reject) => {
      const socket = join(privateDir(socketBase(tmpdir())), "api.sock");
      const child = spawn(
        "/bin/sh",
        [
          "-c",
          PROXY_WRAPPER,
          "sh",
          binary,
          ...global,
          "proxy",
          `--unix-socket=${socket}`,
          "--accept-paths=^/api/v1/namespaces/[^/]+/pods/[^/]+/exec$",
          "--reject-paths=^/api/.*/pods/.*/attach$",
          "--accept-hosts=^localhost$",
        ],
        // Its own session: PROXY_WRAPPER's `kill 0` must reach its group and nothing of the verifier's.
        { detached: true, stdio: ["pipe", "pipe", "pipe"] },
      );
      // Closing the wrapper's input is the one way to stop the proxy; a signal to the wrapper alone would orphan it.
      const stop = (): void => {
        child.stdin.end();
      };
      child.stdin.on("error", () => undefined);
      running.add(stop);
      let said = "";
      let serving = false;
      const fail = (why: string): void => {
        clearTimeout(timer);
        stop();
        reject(new Error(`kubectl proxy, which runs the commands in pods, did not start: ${why}`));
      };
      const timer = setTimeout(() => fail(`nothing served after ${PROXY_START_MS / 1000}s`), PROXY_START_MS);
      child.stdout.on("data", (b: Buffer) => {
        said += b.toString("utf8");
        if (!serving && said.includes("Starting to serve on")) {
          serving = true;
          clearTimeout(timer);
          resolve(socket);
        }
      });
      child.stderr.on("data", (b: Buffer) => {
        said += b.toString("utf8");
      });
      child.on("error", (e) => fail(e.message));
      child.on("close", (code) => {
        running.delete(stop);
        // A proxy that served and then ended is started again for the next command.
        if (serving) proxy = null;
        fail(`exited ${code ?? "abnormally"}: ${said.trim().slice(-400)}`);
      });
    });
    return proxy;
  };

  const exec = (target: ExecTarget, command: readonly string[], opts: Omit<RunOptions, "input"> = {}): BackgroundProcess => {
    if (viaKubectl || stopped) return start(kubectlExec(target, command), opts);
    const output = new Output();
    let ws: WebSocket | null = null;
    let fallback: { kill(): void } | null = null;
    let killed = false;
    const done = (async (): Promise<KubectlResult> => {
      let socket: string;
      try {
        socket = await proxySocket();
      } catch (e) {
        output.err(`${(e as Error).message}\n`);
        return output.end(1, false, "exec");
      }
      if (killed || stopped) return output.end(null, false, "exec");
      return new Promise<KubectlResult>((resolve) => {
        let code: number | null = null;
        let timedOut = false;
        const conn = new WebSocket(`ws://localhost${execPath(target, command)}`, EXEC_PROTOCOLS, { createConnection: () => connect(socket) });
        ws = conn;
        streams.add(conn);
        const timer = setTimeout(() => {
          timedOut = true;
          conn.terminate();
        }, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
        conn.on("message", (data: Buffer) => {
          const payload = data.subarray(1);
          if (payload.length === 0) return;
          if (data[0] === STREAM_STDOUT) output.stdout(payload);
          else if (data[0] === STREAM_STDERR) output.err(payload.toString("utf8"));
          else if (data[0] === STREAM_ERROR) {
            const s = execStatus(payload.toString("utf8"));
            code = s.code;
            if (s.message) output.err(`${s.message}\n`);
          }
        });
        conn.on("unexpected-response", (_req, res) => {
          const body: Buffer[] = [];
          res.on("data", (b: Buffer) => body.push(b));
          res.on("end", () => {
            const refusal = upgradeRefusal(res.statusCode ?? 0, Buffer.concat(body).toString("utf8"));
            if (res.statusCode === 403 || res.statusCode === 400) {
              clearTimeout(timer);
              if (!viaKubectl)
                cfg.log?.(`exec over WebSocket refused (${refusal}); running kubectl exec per command instead (grant get on pods/exec to avoid it)`);
              viaKubectl = true;
              const p = spawnInto(kubectlExec(target, command), opts, output);
              fallback = p;
              if (killed) p.kill();
              void p.done.then(resolve);
              conn.terminate();
              return;
            }
            output.err(`${refusal}\n`);
            code = 1;
            conn.terminate();
          });
        });
        conn.on("error", (e) => {
          if (code === null && !timedOut && !fallback) output.err(`exec in pod ${target.pod}: ${e.message}\n`);
        });
        conn.on("close", () => {
          streams.delete(conn);
          if (fallback) return;
          clearTimeout(timer);
          if (code === null && !timedOut && !killed) {
            output.err("the exec stream closed without an exit status\n");
            code = 1;
          }
          resolve(output.end(timedOut || killed ? null : code, timedOut, "exec"));
        });
      });
    })();
    return {
      done,
      kill: () => {
        killed = true;
        (ws as WebSocket | null)?.terminate();
        (fallback as { kill(): void } | null)?.kill();
      },
      waitForStderr: (p, t) => output.waitForStderr(p, t),
    };
  };

  return {
    start,
    run: (args, opts) => start(args, opts).done,
    exec,
    close: () => {
      for (const end of running) end();
    },
    stop: () => {
      stopped = true;
      for (const end of running) end();
      for (const w of streams) w.terminate();
    },
    runAfterStop: (args, opts = {}) => spawnInto(args, opts, new Output(), true).done,
  };
}

export function describeFailure(r: KubectlResult): string {
  const what = r.via === "exec" ? "exec" : "kubectl";
  if (r.timedOut) return `${what} timed out`;
  const msg = r.stderr.trim().split("\n").slice(-3).join(" ").slice(0, 400);
  return `${what} exited ${r.code ?? "abnormally"}${msg ? `: ${msg}` : ""}`;
}
