/**
 * The verifier killed in the middle of its wire check, on a real API server: stopped by SIGTERM (as
 * drift and CI cancellation stop it) it leaves nothing, neither the privileged namespace with its
 * host-network pods nor its private kubeconfig copy, proxy socket or kubectl proxy; killed by SIGKILL,
 * which no process can handle, its kubectl proxy and private files still go (the shells guarding them
 * see the verifier's pipes close), and its namespace is deleted by the next run once its declared
 * lifetime has passed.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { LABEL, LABEL_VALUE, LIFETIME_ANNOTATION, NAMESPACE_PREFIX } from "../../verifier/wire";
import { CHART_VERSION, clearAgentFaults, kubeconfig, kubectl, kubectlJson, newStack, PROJECT_DIR, stackConfig, type TestStack } from "./harness";

const NAMESPACE = "ns-killed";
const SELECTOR = `${LABEL}=${LABEL_VALUE}`;
let t: TestStack;
/** The TMPDIRs of the verifiers this file started. */
const tmps: string[] = [];

interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A verification with the wire check, in a TMPDIR of its own so what it leaves there can be seen. */
function startVerifier(label: string) {
  // Short: the proxy's socket path inside it must fit a Unix socket address.
  const tmp = mkdtempSync(join(tmpdir(), `${label}-`));
  tmps.push(tmp);
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "verifier/main.ts",
      ...["--mode", "ipsec", "--namespace", NAMESPACE, "--cilium-version", CHART_VERSION],
      // With a context the verifier also keeps a private copy of the kubeconfig in TMPDIR.
      ...["--kubeconfig", kubeconfig(), "--context", kubectl("config", "current-context").trim(), "--wire-check", "on", "--timeout", "180"],
    ],
    { cwd: PROJECT_DIR, env: { ...process.env, TMPDIR: tmp }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (b: Buffer) => (stdout += b.toString("utf8")));
  child.stderr.on("data", (b: Buffer) => (stderr += b.toString("utf8")));
  const ended = new Promise<Ended>((resolve) => child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, tmp, ended };
}

/** The wire check namespaces on the cluster, being deleted or not. */
function wireNamespaces(): Array<{ name: string; deleting: boolean }> {
  return kubectlJson("get", "namespaces", "-l", SELECTOR).items.map((n: any) => ({ name: n.metadata.name, deleting: Boolean(n.metadata.deletionTimestamp) }));
}

async function until<T>(what: string, probe: () => T | undefined, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > end) assert.fail(`timed out after ${ms / 1000}s waiting for ${what}`);
    await sleep(100);
  }
}

/**
 * Processes whose command line holds DIR (a kubectl proxy or kubectl the verifier started with its
 * private files) or whose TMPDIR is DIR (everything the verifier started, the shells guarding it too).
 */
function processesUsing(dir: string): string[] {
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .flatMap((p) => {
      try {
        const cmdline = readFileSync(`/proc/${p}/cmdline`, "utf8");
        const ours = cmdline.includes(dir) || readFileSync(`/proc/${p}/environ`, "utf8").split("\0").includes(`TMPDIR=${dir}`);
        return ours ? [`${p}: ${cmdline.split("\0").join(" ")}`] : [];
      } catch {
        return [];
      }
    });
}

const privateFiles = (tmp: string): string[] => readdirSync(tmp).filter((f) => f.startsWith("cilium-encryption-verify-"));

/** Nothing of a run outlives it; the shells guarding it end a moment after it, once they see its pipes close. */
async function assertNothingLeft(tmp: string): Promise<void> {
  const end = Date.now() + 10_000;
  while (processesUsing(tmp).length > 0 && Date.now() < end) await sleep(100);
  assert.deepEqual(processesUsing(tmp), [], "a kubectl proxy, kubectl or guard outlived the verifier");
  assert.deepEqual(privateFiles(tmp), [], "a private kubeconfig copy or socket directory is left in TMPDIR");
}

describe("a killed verifier leaves nothing behind", () => {
  before(async () => {
    clearAgentFaults();
    t = await newStack("killed", stackConfig(NAMESPACE, { type: "ipsec", ipsec: { keyId: 1 } }));
    const up = await t.up();
    assert.equal(up.outputs.verification!.value.verdict, "verified");
    assert.deepEqual(
      wireNamespaces().filter((n) => !n.deleting),
      [],
      "the verification of up left its namespace",
    );
  });

  after(async () => {
    for (const tmp of tmps) {
      for (const line of processesUsing(tmp)) process.kill(Number(line.split(":")[0]), "SIGKILL");
      rmSync(tmp, { recursive: true, force: true });
    }
    for (const n of wireNamespaces()) kubectl("delete", "namespace", n.name, "--ignore-not-found", "--wait=false");
    await t?.remove();
  });

  it("SIGTERM during the wire check: the namespace is deleted, the proxy stopped, the private files removed; unverified, exit 143", async () => {
    await until("earlier namespaces to go", () => (wireNamespaces().length === 0 ? true : undefined), 120_000);
    const v = startVerifier("term");
    const namespace = await until("the wire check's namespace", () => wireNamespaces()[0]?.name, 180_000);
    assert.ok(namespace.startsWith(NAMESPACE_PREFIX));
    assert.ok(
      processesUsing(v.tmp).some((p) => p.includes(" proxy ")),
      "the kubectl proxy was running",
    );
    assert.equal(privateFiles(v.tmp).length, 2, "its kubeconfig copy and its proxy socket, each in a private directory");
    v.child.kill("SIGTERM");
    const end = await v.ended;
    assert.equal(end.code, 143, end.stderr);
    assert.deepEqual(JSON.parse(end.stdout), { verdict: "unverified", exitCode: 143, error: "stopped by SIGTERM before the verification finished" });
    assert.match(end.stderr, new RegExp(`verifier: wire check: deleted namespace ${namespace}`));
    assert.ok(!/\n\s+at /.test(end.stderr), `a stack trace: ${end.stderr}`);
    await assertNothingLeft(v.tmp);
    // Deleted, not merely being deleted: the namespace controller removes its pods, then it.
    await until("the namespace to be gone", () => (wireNamespaces().length === 0 ? true : undefined), 120_000);
  });

  it("SIGKILL during the wire check: the proxy ends and the private files go; the next run deletes the namespace once its declared lifetime has passed, and says so", async () => {
    const killed = startVerifier("kill");
    const left = await until("the wire check's namespace", () => wireNamespaces()[0]?.name, 180_000);
    assert.ok(
      processesUsing(killed.tmp).some((p) => p.includes(" proxy ")),
      "the kubectl proxy was running",
    );
    assert.equal(privateFiles(killed.tmp).length, 2, "its kubeconfig copy and its proxy socket, each in a private directory");
    killed.child.kill("SIGKILL");
    assert.equal((await killed.ended).signal, "SIGKILL");
    await assertNothingLeft(killed.tmp);
    assert.deepEqual(
      wireNamespaces().map((n) => n.name),
      [left],
      "nothing can delete it in a process killed by SIGKILL",
    );
    const declared = Number(kubectlJson("get", "namespace", left).metadata.annotations[LIFETIME_ANNOTATION]);
    // Its run's 180s plus the slack: far longer than this test, and than the next run's.
    assert.ok(declared > 1800 && declared <= 1800 + 180, String(declared));

    // A run right now leaves it alone: its run could still be going.
    const early = startVerifier("early");
    const earlyEnd = await early.ended;
    assert.equal(earlyEnd.code, 0, earlyEnd.stderr);
    assert.match(earlyEnd.stderr, new RegExp(`wire check: namespace\\(s\\) of other runs still within their lifetime, left alone: ${left}`));
    assert.deepEqual(
      wireNamespaces()
        .filter((n) => !n.deleting)
        .map((n) => n.name),
      [left],
    );

    // Time passes, as far as the namespace's lifetime goes: it now says its run could live 1s.
    kubectl("annotate", "namespace", left, `${LIFETIME_ANNOTATION}=1`, "--overwrite");
    await sleep(2_500);
    const next = startVerifier("next");
    const nextEnd = await next.ended;
    assert.equal(nextEnd.code, 0, nextEnd.stderr);
    assert.match(
      nextEnd.stderr,
      new RegExp(`verifier: wire check: deleting namespace\\(s\\) left by earlier runs that were stopped: ${left} \\(created \\d+[sm]\\S* ago, lifetime 1s\\)`),
    );
    await assertNothingLeft(next.tmp);
    await until("every wire check namespace to be gone", () => (wireNamespaces().length === 0 ? true : undefined), 120_000);
  });
});
