/**
 * Faults on the real engine, kept as regression tests: the API server killed in the middle of `up`,
 * two `up` racing on one stack, the verification killed mid-run. After each, the stack converges with
 * the same Secret and nothing left pending. The stack's kubeconfig path and context are set with
 * `pulumi config set --secret`, and must never appear in plain text in the state backend.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type EngineEvent, LocalWorkspace, type UpResult } from "@pulumi/pulumi/automation";
import { parse, stringify } from "yaml";
import { PROJECT } from "../../config/settings";
import { parseKeyLine } from "../../encryption/keyLine";
import { agentCalls, backendText, clearAgentFaults, kubeconfig, livePsk, newStack, PROJECT_DIR, stackConfig, type TestStack } from "./harness";

const NAMESPACE = "ns-faults";
const SECRET_TYPE = "kubernetes:core/v1:Secret";
/** A test marker in the kubeconfig path and the context name, so a leak is easy to find. */
const MARKER = `secretcfg${process.pid}x${Date.now().toString(36)}`;
const scratch = mkdtempSync(join(tmpdir(), "faults-"));
const secretKubeconfig = join(scratch, `kubeconfig-${MARKER}`);
const secretContext = `ctx-${MARKER}`;

let t: TestStack;
/** Everything the engine said across the file, for the secret-config scan. */
const seen: string[] = [];
/** Command lines of the verifier processes this file saw running. */
const verifierCommandLines: string[] = [];

function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run through scripts/test.sh`);
  return v;
}

// ---- the control plane that scripts/test.sh started (toolchain/cluster.sh: kwokctl cluster "e2e") ----

const clusterDir = () => dirname(kubeconfig());
const apiserverPidFile = () => join(clusterDir(), "kwok/clusters/e2e/pids/kube-apiserver.pid");

/** A process still running: present and not a zombie waiting to be reaped. */
function alive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\) /s, "")[0] !== "Z";
  } catch {
    return false;
  }
}

function apiserverReady(): boolean {
  try {
    return (
      execFileSync("kubectl", ["--kubeconfig", kubeconfig(), "get", "--raw", "/readyz", "--request-timeout=2s"], {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      }).trim() === "ok"
    );
  } catch {
    return false;
  }
}

async function killApiserver(): Promise<void> {
  const pid = Number(readFileSync(apiserverPidFile(), "utf8").trim());
  // Only ever our cluster's API server, never a process that reused a stale pid.
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
  assert.ok(cmdline.includes("kube-apiserver") && cmdline.includes(clusterDir()), `pid ${pid} is not this cluster's kube-apiserver`);
  process.kill(pid, "SIGKILL");
  for (let i = 0; alive(pid); i++) {
    assert.ok(i < 200, "kube-apiserver did not die");
    await sleep(50);
  }
  // kwokctl takes a pid file whose process still exists (a zombie counts) as running.
  rmSync(apiserverPidFile());
}

/** kwokctl starts the components that are not running (here the API server) and waits until it serves. */
async function restartApiserver(): Promise<void> {
  execFileSync(join(required("TOOLCHAIN_BIN"), "kwokctl"), ["-v=WARN", "start", "cluster", "--name", "e2e"], {
    env: { ...process.env, KWOK_WORKDIR: join(clusterDir(), "kwok") },
    stdio: ["ignore", "ignore", "pipe"],
    timeout: 180_000,
  });
  for (let i = 0; !apiserverReady(); i++) {
    assert.ok(i < 120, "kube-apiserver not ready a minute after its restart");
    await sleep(500);
  }
}

// ---- the stack ----

function stackFile(): string {
  return join(PROJECT_DIR, `Pulumi.${t.name}.yaml`);
}

/** Changes the key id in the stack file, keeping the secret config entries as they are. */
function setKeyId(keyId: number): void {
  const doc = parse(readFileSync(stackFile(), "utf8")) as { config: Record<string, any> };
  doc.config[`${PROJECT}:encryption`].ipsec.keyId = keyId;
  writeFileSync(stackFile(), stringify(doc));
}

const record = (e: EngineEvent) => seen.push(JSON.stringify(e));
const up = (opts: { refresh?: boolean; onEvent?: (e: EngineEvent) => void } = {}) =>
  t.stack.up({
    color: "never",
    refresh: opts.refresh,
    onOutput: (o) => seen.push(o),
    onEvent: (e) => {
      record(e);
      opts.onEvent?.(e);
    },
  });
const settle = (p: Promise<UpResult>) =>
  p.then(
    (r) => ({ ok: true as const, result: r }),
    (e: unknown) => ({ ok: false as const, error: String(e) }),
  );

async function pendingOperations(): Promise<unknown[]> {
  const state = await t.stack.exportStack();
  return (state.deployment as { pending_operations?: unknown[] }).pending_operations ?? [];
}

/** Converged: succeeded, verified, and a preview finds nothing to do. */
async function assertConverged(result: UpResult, keyId: number, uid: string): Promise<void> {
  assert.equal(result.summary.result, "succeeded");
  assert.equal(result.outputs.verification!.value.verdict, "verified");
  assert.equal(result.outputs.release!.value.status, "deployed");
  const live = livePsk(NAMESPACE);
  assert.equal(live.uid, uid, "the same Secret object, never deleted and recreated");
  assert.equal(parseKeyLine(live.line).keyId, keyId);
  assert.deepEqual(await pendingOperations(), []);
  await t.stack.preview({ color: "never", expectNoChanges: true, onEvent: record });
}

/** Finds the running verifier of this file's stack and kills it; resolves with its pid. */
async function killVerifierWhenRunning(stop: () => boolean): Promise<number> {
  while (!stop()) {
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      let cmdline: string;
      try {
        cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8");
      } catch {
        continue;
      }
      const argv = cmdline.split("\0");
      if (!argv.includes("verifier/main.ts") || !argv.includes(NAMESPACE)) continue;
      verifierCommandLines.push(argv.join(" "));
      process.kill(Number(entry), "SIGKILL");
      return Number(entry);
    }
    await sleep(25);
  }
  return 0;
}

describe("faults", () => {
  let uid = "";

  before(async () => {
    clearAgentFaults();
    copyFileSync(kubeconfig(), secretKubeconfig);
    const current = execFileSync("kubectl", ["--kubeconfig", secretKubeconfig, "config", "current-context"], { encoding: "utf8" }).trim();
    execFileSync("kubectl", ["--kubeconfig", secretKubeconfig, "config", "rename-context", current, secretContext], { stdio: "ignore" });
    // Every test rotates the key: agents drop the old one at their next stale-key tick (a minute at
    // most) instead of after the default 5m, and the verifier waits that out.
    const { cluster: _ambient, ...config } = stackConfig(
      NAMESPACE,
      { type: "ipsec", ipsec: { keyId: 1, keyRotationDuration: "1s" } },
      { verification: { timeout: "3m", wireCheck: false } },
    );
    t = await newStack("faults", config);
    // As a user would: `pulumi config set --secret`, the value on stdin.
    for (const [key, value] of [
      ["cluster.kubeconfig", secretKubeconfig],
      ["cluster.context", secretContext],
    ] as const) {
      execFileSync("pulumi", ["config", "set", "--secret", "--path", "--stack", t.name, `${PROJECT}:${key}`], {
        cwd: PROJECT_DIR,
        input: value,
        stdio: ["pipe", "ignore", "pipe"],
      });
    }
    assert.ok(!readFileSync(stackFile(), "utf8").includes(MARKER), "the stack file holds the values encrypted");
    const first = await up();
    assert.equal(first.summary.result, "succeeded");
    uid = livePsk(NAMESPACE).uid;
  });

  after(async () => {
    // Whatever happened above, leave a serving API server to the next test file.
    if (!apiserverReady()) await restartApiserver();
    await t?.remove();
    rmSync(scratch, { recursive: true, force: true });
  });

  it("kube-apiserver killed in the middle of up and restarted: up --refresh converges, same Secret, nothing pending", async () => {
    setKeyId(2);
    let killing: Promise<void> | undefined;
    let settled = false;
    let settledBeforeKill = true;
    const run = settle(
      up({
        onEvent: (e) => {
          const m = e.resourcePreEvent?.metadata;
          if (killing === undefined && m?.type === SECRET_TYPE && m.op === "update") {
            settledBeforeKill = settled;
            killing = killApiserver();
          }
        },
      }),
    ).finally(() => (settled = true));
    const outcome = await run;
    assert.ok(killing, "the Secret's update began");
    await killing;
    assert.equal(settledBeforeKill, false, "killed while up was running");
    assert.equal(outcome.ok, false, "up cannot succeed without an API server");
    assert.equal(existsSync(apiserverPidFile()), false);
    await restartApiserver();

    const converged = await up({ refresh: true });
    await assertConverged(converged, 2, uid);
  });

  it("two up at once on one stack: the second is refused by the lock, the state intact", async () => {
    const history = (await t.stack.history()).length;
    setKeyId(3);
    const other = await LocalWorkspace.selectStack({ stackName: t.name, workDir: PROJECT_DIR });
    let firstDone = false;
    let firstDoneWhenSecondStarted = true;
    let second: ReturnType<typeof settle> | undefined;
    const first = up({
      onEvent: () => {
        if (second !== undefined) return;
        firstDoneWhenSecondStarted = firstDone;
        second = settle(other.up({ color: "never", onEvent: record }));
      },
    }).finally(() => (firstDone = true));
    const firstResult = await first;
    assert.ok(second, "the second up was started");
    const secondOutcome = await second;
    assert.equal(firstDoneWhenSecondStarted, false, "both ran at once");
    assert.equal(secondOutcome.ok, false, "the second up was not refused");
    assert.match(secondOutcome.ok ? "" : secondOutcome.error, /the stack is currently locked by 1 lock\(s\)/);
    await assertConverged(firstResult, 3, uid);
    const updates = await t.stack.history();
    assert.equal(updates.length, history + 1, "one update recorded, nothing from the refused one");
    assert.equal(updates[0]!.result, "succeeded");
  });

  it("the verification command killed mid-run: up fails cleanly, the next up converges", async () => {
    setKeyId(4);
    let settled = false;
    const run = settle(up()).finally(() => (settled = true));
    const killed = await killVerifierWhenRunning(() => settled);
    const outcome = await run;
    assert.ok(killed > 0, "the verifier was seen running");
    assert.equal(outcome.ok, false, "a killed verification must fail up");
    assert.match(outcome.ok ? "" : outcome.error, /verification/);
    assert.deepEqual(await pendingOperations(), [], "a failed step leaves nothing pending");
    assert.equal(parseKeyLine(livePsk(NAMESPACE).line).keyId, 4, "the rotation itself was applied");

    const callsBefore = agentCalls();
    const converged = await up();
    assert.ok(agentCalls() > callsBefore, "the verification ran again");
    await assertConverged(converged, 4, uid);
  });

  it("the kubeconfig path and context set with --secret never appear in plain text", () => {
    const places: Record<string, string> = {
      "state backend": backendText(),
      "engine events and output": seen.join("\n"),
      "the verifier's command line": verifierCommandLines.join("\n"),
    };
    assert.ok(verifierCommandLines.length > 0, "no verifier command line was captured");
    for (const [where, text] of Object.entries(places)) {
      assert.ok(text.length > 0, `${where}: nothing captured`);
      const at = text.indexOf(MARKER);
      // The marker is test data, not a secret: show where it sits.
      assert.equal(at, -1, `a secret config value in plain text in ${where}: …${text.slice(Math.max(0, at - 120), at + 60)}…`);
    }
  });
});
