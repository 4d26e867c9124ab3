/**
 * Every way the verifier ends, run as the verification Command runs it (a process, the fake kubectl
 * on PATH): it leaves no private file in TMPDIR and no process behind, deletes the wire check's
 * namespace, and ends with an exit status and a JSON verdict, with one line for people and never a
 * stack trace.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { connectionSettings, errorLine, FROM_STACK_ENV, signalExitCode } from "../../../verifier/exit";
import { calls, type FakeOptions, prepareFakeCluster } from "./fakeCluster";

const ROOT = join(__dirname, "../../..");
const FAKE_KUBECTL_DIR = join(__dirname, "fake-kubectl");
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

interface Ended {
  code: number | null;
  stdout: string;
  stderr: string;
}

function start(argv: string[], opts: { fake?: FakeOptions; env?: Record<string, string>; path?: string; preload?: string } = {}) {
  const dir = mkdtempSync(join(tmpdir(), "verifier-exit-"));
  // A space in TMPDIR, as a user name or a CI workspace may put there: every private path holds it.
  const tmp = mkdtempSync(join(tmpdir(), "verifier tmpdir-"));
  dirs.push(dir, tmp);
  prepareFakeCluster(dir, "ipsec-1.18-healthy", opts.fake);
  const child = spawn(process.execPath, ["--import", "tsx", ...(opts.preload ? ["--import", opts.preload] : []), "verifier/main.ts", ...argv], {
    cwd: ROOT,
    env: {
      ...process.env,
      PATH: opts.path ?? `${FAKE_KUBECTL_DIR}:${dirname(process.execPath)}:${process.env.PATH}`,
      FAKE_KUBE_DIR: dir,
      TMPDIR: tmp,
      ...opts.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (b: Buffer) => (stdout += b.toString("utf8")));
  child.stderr.on("data", (b: Buffer) => (stderr += b.toString("utf8")));
  const ended = new Promise<Ended>((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
  return { child, dir, tmp, ended };
}

const base = ["--mode", "ipsec", "--namespace", "kube-system", "--cilium-version", "1.18.11", "--poll-interval", "0.05"];
const connection = ["--kubeconfig", "/tmp/none.kubeconfig", "--context", "e2e"];

async function until(what: string, done: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!done()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const privateDirs = (tmp: string): string[] => readdirSync(tmp).filter((f) => f.startsWith("cilium-encryption-verify-"));

/**
 * The processes of a run, found through its TMPDIR: on their command line (kubectl and its proxy
 * with the private files) or in their environment (everything the run started, its guards too).
 */
function processesOf(tmp: string): string[][] {
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .flatMap((p) => {
      try {
        const argv = readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0");
        return argv.some((a) => a.includes(tmp)) || readFileSync(`/proc/${p}/environ`, "utf8").split("\0").includes(`TMPDIR=${tmp}`) ? [argv] : [];
      } catch {
        return [];
      }
    });
}

/** The private files and processes of a run: none may outlive it. */
async function assertNothingLeft(tmp: string): Promise<void> {
  // Children it stopped may take a moment to exit.
  await until("the run's processes to end", () => processesOf(tmp).length === 0, 10_000);
  assert.deepEqual(privateDirs(tmp), [], "a private kubeconfig copy or proxy socket directory is left in TMPDIR");
}

function assertOneLine(stderr: string, line: RegExp): void {
  assert.ok(!/\n\s+at /.test(stderr), `a stack trace: ${stderr}`);
  assert.ok(
    stderr.split("\n").some((l) => line.test(l)),
    stderr,
  );
}

const wireNamespace = (dir: string): string =>
  (JSON.parse(readFileSync(join(dir, "applied.json"), "utf8")) as { items: Array<{ kind: string; metadata: { name: string } }> }).items.find(
    (i) => i.kind === "Namespace",
  )!.metadata.name;

describe("how the verifier ends", () => {
  it("verified: exit 0 and nothing left", async () => {
    const r = start([...base, ...connection, "--wire-check", "off"]);
    const end = await r.ended;
    assert.equal(end.code, 0, end.stderr);
    assert.equal(JSON.parse(end.stdout).verdict, "verified");
    await assertNothingLeft(r.tmp);
  });

  it("an unreachable cluster: one line naming the connection flags, unverified, exit 2, nothing left", async () => {
    const r = start([...base, ...connection, "--wire-check", "off"], { fake: { unreachable: true } });
    const end = await r.ended;
    assert.equal(end.code, 2);
    assertOneLine(
      end.stderr,
      /UNVERIFIED cluster: cannot reach the cluster's API server \(check --kubeconfig and --context\): kubectl exited 1: The connection to the server 127\.0\.0\.1:6443 was refused/,
    );
    assert.deepEqual([JSON.parse(end.stdout).verdict, JSON.parse(end.stdout).exitCode], ["unverified", 2]);
    await assertNothingLeft(r.tmp);
  });

  it("run by the verification Command, the same message names the stack's settings", async () => {
    const end = await start([...base, "--wire-check", "off"], { fake: { unreachable: true }, env: { [FROM_STACK_ENV]: "1" } }).ended;
    assertOneLine(end.stderr, /cannot reach the cluster's API server \(check cilium-encryption:cluster\.kubeconfig and cilium-encryption:cluster\.context\)/);
    assert.match(JSON.parse(end.stdout).error, /cilium-encryption:cluster\.kubeconfig/);
  });

  it("a context the kubeconfig does not have: one line naming the setting, never the value; exit 2", async () => {
    const marker = "ctx-not-there-7f3a";
    for (const [env, line] of [
      [{}, /^verify: --context: the kubeconfig has no such context \(the kubeconfig: --kubeconfig, or kubectl's default\)$/],
      [{ [FROM_STACK_ENV]: "1" }, /^verify: --context: the kubeconfig has no such context/],
    ] as const) {
      const r = start([...base, "--kubeconfig", "/tmp/none.kubeconfig", "--context", marker], { env });
      const end = await r.ended;
      assert.equal(end.code, 2);
      assertOneLine(end.stderr, line);
      assert.ok(!end.stderr.includes(marker) && !end.stdout.includes(marker), "the context value is echoed");
      const report = JSON.parse(end.stdout) as { verdict: string; exitCode: number; error: string };
      assert.deepEqual([report.verdict, report.exitCode], ["unverified", 2]);
      assert.match(`verify: ${report.error}`, line);
      await assertNothingLeft(r.tmp);
    }
    // The context from the Command's environment is the stack's cluster.context.
    const r = start([...base, "--kubeconfig", "/tmp/none.kubeconfig"], { env: { [FROM_STACK_ENV]: "1", CILIUM_ENCRYPTION_CONTEXT: marker } });
    const end = await r.ended;
    assertOneLine(
      end.stderr,
      /^verify: cilium-encryption:cluster\.context: the kubeconfig has no such context \(the kubeconfig: --kubeconfig, or kubectl's default\)$/,
    );
    assert.ok(!end.stderr.includes(marker));
  });

  it("no kubectl on PATH: one line saying so, unverified, exit 2", async () => {
    const end = await start([...base, ...connection], { path: dirname(process.execPath) }).ended;
    assert.equal(end.code, 2);
    assertOneLine(end.stderr, /^verify: kubectl is not on PATH: the verifier reads the cluster with kubectl \(install it, or add its directory to PATH\)$/);
    assert.equal(JSON.parse(end.stdout).verdict, "unverified");
  });

  for (const [signal, code] of [
    ["SIGTERM", 143],
    ["SIGINT", 130],
  ] as const) {
    it(`${signal} during the wire check: its namespace deleted, proxy and kubectl stopped, files removed, unverified, exit ${code}`, async () => {
      const r = start([...base, ...connection, "--wire-check", "on"], { fake: { testPodsPending: true } });
      await until("the wire check's namespace", () => existsSync(join(r.dir, "applied.json")));
      const namespace = wireNamespace(r.dir);
      await until("the wait for its pods", () => calls(r.dir).some((c) => c.includes(namespace) && c.includes("pods")));
      r.child.kill(signal);
      const end = await r.ended;
      assert.equal(end.code, code, end.stderr);
      assert.deepEqual(JSON.parse(end.stdout), { verdict: "unverified", exitCode: code, error: `stopped by ${signal} before the verification finished` });
      assertOneLine(end.stderr, new RegExp(`^verify: stopped by ${signal} before the verification finished$`));
      // Once, by the stop: the wire check's own cleanup joins it rather than repeating it.
      assert.deepEqual(
        calls(r.dir)
          .filter((c) => c.includes("delete"))
          .map((c) => c.slice(1)),
        [["delete", "namespace", namespace, "--ignore-not-found", "--wait=false"]],
      );
      await assertNothingLeft(r.tmp);
    });
  }

  // No handler runs: what cleans up is the end of file the guards read once the kernel has closed the verifier's pipes.
  it("SIGKILL while it waits for the agents, before any proxy: its private kubeconfig copy is removed", async () => {
    const r = start([...base, ...connection, "--wire-check", "off"], { fake: { rolloutPending: 1_000_000 } });
    await until("the wait for the rollout", () => calls(r.dir).some((c) => c.includes("daemonset")));
    assert.equal(privateDirs(r.tmp).length, 1, "the kubeconfig copy the context needs");
    assert.ok(!calls(r.dir).some((c) => c.includes("proxy")), "the proxy had started");
    r.child.kill("SIGKILL");
    assert.equal((await r.ended).code, null);
    await assertNothingLeft(r.tmp);
  });

  it("SIGKILL while the proxy runs: the proxy ends, its socket directory and the kubeconfig copy are removed", async () => {
    const r = start([...base, ...connection, "--wire-check", "on"], { fake: { testPodsPending: true } });
    await until("the wire check's namespace", () => existsSync(join(r.dir, "applied.json")));
    assert.ok(
      processesOf(r.tmp).some((argv) => argv.includes("proxy")),
      "no kubectl proxy was running",
    );
    assert.equal(privateDirs(r.tmp).length, 2, "the kubeconfig copy and the socket directory");
    r.child.kill("SIGKILL");
    assert.equal((await r.ended).code, null);
    await assertNothingLeft(r.tmp);
  });

  it("a crash during the wire check (an error thrown outside any try): one line with its cause, namespace deleted, nothing left, exit 2", async () => {
    const r = start([...base, ...connection, "--wire-check", "on"], { fake: { testPodsPending: true }, preload: join(__dirname, "crashDuringWireCheck.ts") });
    const end = await r.ended;
    assert.equal(end.code, 2, end.stderr);
    assertOneLine(end.stderr, /^verify: verifier crashed: simulated bug: its cause$/);
    assert.equal(JSON.parse(end.stdout).error, "verifier crashed: simulated bug: its cause");
    const namespace = wireNamespace(r.dir);
    assert.ok(calls(r.dir).some((c) => c.includes("delete") && c.includes(namespace)));
    await assertNothingLeft(r.tmp);
  });
});

describe("exit helpers", () => {
  it("names the flag given, else the stack setting when the connection came from the stack", () => {
    assert.deepEqual(connectionSettings(["--kubeconfig", "k", "--context", "c"], {}), { kubeconfig: "--kubeconfig", context: "--context" });
    assert.deepEqual(connectionSettings([], {}), { kubeconfig: "--kubeconfig", context: "--context" });
    const stack = { kubeconfig: "cilium-encryption:cluster.kubeconfig", context: "cilium-encryption:cluster.context" };
    assert.deepEqual(connectionSettings(["--stack", "dev"], {}), stack);
    assert.deepEqual(connectionSettings(["--mode", "ipsec"], { [FROM_STACK_ENV]: "1" }), stack);
    assert.deepEqual(connectionSettings(["--stack", "dev", "--context", "x"], {}), { ...stack, context: "--context" });
    assert.deepEqual(connectionSettings(["--bogus"], {}), { kubeconfig: "--kubeconfig", context: "--context" });
  });

  it("an error and its causes on one line, without repeats", () => {
    assert.equal(errorLine(new Error("a", { cause: new Error("b\n  c", { cause: "d" }) })), "a: b c: d");
    assert.equal(errorLine(new Error("outer: inner", { cause: new Error("inner") })), "outer: inner");
    const loop = new Error("x") as Error & { cause?: unknown };
    loop.cause = loop;
    assert.equal(errorLine(loop), "x");
    assert.equal(errorLine(undefined), "unknown error");
  });

  it("exit status of a signal as shells report it", () => {
    assert.deepEqual((["SIGHUP", "SIGINT", "SIGTERM"] as const).map(signalExitCode), [129, 130, 143]);
  });
});
