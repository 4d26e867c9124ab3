import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { after, describe, it } from "node:test";
import fc from "fast-check";
import { createKubectl, describeFailure, KubectlMissing, onPath, socketBase } from "../../../verifier/kubectl";
import { execPath, execStatus, upgradeRefusal } from "../../../verifier/podExec";
import { calls, prepareFakeCluster } from "./fakeCluster";

describe("the API's exec protocol", () => {
  it("puts every argument in its own command parameter, percent-encoded, so nothing in an argument changes the request", () => {
    fc.assert(
      fc.property(fc.array(fc.string(), { minLength: 1, maxLength: 6 }), fc.constantFrom(undefined, "cilium-agent"), (command, container) => {
        const path = execPath({ namespace: "kube-system", pod: "cilium-x7k", ...(container ? { container } : {}) }, command);
        const url = new URL(path, "http://localhost");
        assert.equal(url.pathname, "/api/v1/namespaces/kube-system/pods/cilium-x7k/exec");
        assert.deepEqual(url.searchParams.getAll("command"), command);
        assert.equal(url.searchParams.get("container"), container ?? null);
        assert.deepEqual([url.searchParams.get("stdout"), url.searchParams.get("stderr"), url.searchParams.get("stdin")], ["true", "true", null]);
        // A unix socket path and this path are split at the first colon by some clients: keep none.
        assert.ok(!path.includes(":"));
      }),
    );
  });

  it("reads the exit code from the Status on the error channel, as kubectl does", () => {
    assert.deepEqual(execStatus('{"metadata":{},"status":"Success"}'), { code: 0, message: null });
    // kubelet pkg/kubelet/cri/streaming/remotecommand/exec.go: reason NonZeroExitCode, cause ExitCode.
    const nonZero = {
      metadata: {},
      status: "Failure",
      message: "command terminated with non-zero exit code: error executing command [cilium-dbg encrypt status], exit code 1",
      reason: "NonZeroExitCode",
      details: { causes: [{ reason: "ExitCode", message: "124" }] },
    };
    assert.deepEqual(execStatus(JSON.stringify(nonZero)), { code: 124, message: "command terminated with exit code 124" });
    assert.deepEqual(execStatus('{"status":"Failure","message":"container not found (\\"cilium-agent\\")"}'), {
      code: 1,
      message: 'error: container not found ("cilium-agent")',
    });
    assert.equal(execStatus("not json").code, 1);
    assert.equal(execStatus(JSON.stringify({ ...nonZero, details: { causes: [{ reason: "ExitCode", message: "x" }] } })).code, 1);
  });

  it("words a refused upgrade like kubectl, so throttling (429) is recognised", () => {
    assert.equal(
      upgradeRefusal(429, '{"kind":"Status","status":"Failure","reason":"TooManyRequests","message":"too many requests, please try again later"}'),
      "Error from server (TooManyRequests): too many requests, please try again later",
    );
    assert.equal(upgradeRefusal(403, "Forbidden"), "Error from server: HTTP 403 Forbidden");
  });
});

describe("exec in pods through one kubectl proxy", () => {
  const dirs: string[] = [];
  after(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const kubectl = (opts: Parameters<typeof prepareFakeCluster>[2] = {}) => {
    const dir = mkdtempSync(join(tmpdir(), "verifier-exec-"));
    dirs.push(dir);
    prepareFakeCluster(dir, "ipsec-1.18-healthy", opts);
    process.env.FAKE_KUBE_DIR = dir;
    return createKubectl({ kubeconfig: null, context: null, binary: join(__dirname, "fake-kubectl", "kubectl") });
  };

  it("relays stdout byte for byte and the exit code, many at once over one proxy", async () => {
    const k = kubectl();
    try {
      const reads = await Promise.all(
        ["cilium-ax7k", "cilium-bx7k", "cilium-cx7k"].map(
          (pod) => k.exec({ namespace: "kube-system", pod, container: "cilium-agent" }, ["cilium-dbg", "encrypt", "status", "-o", "json"]).done,
        ),
      );
      for (const r of reads) {
        assert.equal(r.code, 0, r.stderr);
        assert.equal((JSON.parse(r.stdout.toString("utf8")) as { mode?: string }).mode, "IPsec");
      }
      const missing = await k.exec({ namespace: "kube-system", pod: "cilium-nope" }, ["cilium-dbg", "encrypt", "status", "-o", "json"]).done;
      assert.equal(missing.code, 1);
      assert.match(describeFailure(missing), /^exec exited 1: Error from server \(NotFound\): pods "cilium-nope" not found/);
      const exit = await k.exec({ namespace: "kube-system", pod: "cilium-ax7k" }, ["pkill", "-INT", "-x", "tcpdump"]).done;
      assert.deepEqual([exit.code, exit.stderr], [1, "command terminated with exit code 1\n"]);
    } finally {
      k.close();
    }
  });

  it("says when the API server throttles the exec", async () => {
    const k = kubectl({ throttle: 1 });
    try {
      const r = await k.exec({ namespace: "kube-system", pod: "cilium-ax7k" }, ["cilium-dbg", "encrypt", "status", "-o", "json"]).done;
      assert.equal(r.code, 1);
      assert.match(r.stderr, /TooManyRequests/);
      const again = await k.exec({ namespace: "kube-system", pod: "cilium-ax7k" }, ["cilium-dbg", "encrypt", "status", "-o", "json"]).done;
      assert.equal(again.code, 0, again.stderr);
    } finally {
      k.close();
    }
  });

  it("falls back to kubectl exec processes, as kubectl does, when the API server refuses exec over WebSocket (RBAC create only)", async () => {
    const logged: string[] = [];
    const dir = mkdtempSync(join(tmpdir(), "verifier-exec-"));
    dirs.push(dir);
    prepareFakeCluster(dir, "ipsec-1.18-healthy");
    writeFileSync(join(dir, "exec-get-forbidden"), "");
    process.env.FAKE_KUBE_DIR = dir;
    const k = createKubectl({ kubeconfig: null, context: null, binary: join(__dirname, "fake-kubectl", "kubectl"), log: (l) => logged.push(l) });
    try {
      for (const pod of ["cilium-ax7k", "cilium-bx7k"]) {
        const r = await k.exec({ namespace: "kube-system", pod, container: "cilium-agent" }, ["cilium-dbg", "encrypt", "status", "-o", "json"]).done;
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stderr, "");
        assert.equal((JSON.parse(r.stdout.toString("utf8")) as { mode?: string }).mode, "IPsec");
      }
      assert.equal(logged.length, 1);
      assert.match(logged[0]!, /exec over WebSocket refused \(Error from server \(Forbidden\): .*\); running kubectl exec per command instead/);
      // Both reads ran as kubectl processes.
      const execs = calls(dir).filter((a) => a.includes("exec"));
      assert.deepEqual(
        execs.map((a) => a.slice(a.indexOf("exec"))),
        ["cilium-ax7k", "cilium-bx7k"].map((pod) => ["exec", pod, "-c", "cilium-agent", "--", "cilium-dbg", "encrypt", "status", "-o", "json"]),
      );
    } finally {
      k.close();
    }
  });

  it("fails every exec with the reason when the proxy cannot start", async () => {
    const k = createKubectl({ kubeconfig: null, context: null, binary: "/bin/false" });
    const r = await k.exec({ namespace: "kube-system", pod: "cilium-ax7k" }, ["true"]).done;
    assert.equal(r.code, 1);
    assert.match(r.stderr, /kubectl proxy, which runs the commands in pods, did not start: exited 1/);
    k.close();
  });

  it("once stopped, nothing starts but the cleanup's commands", async () => {
    const dir = mkdtempSync(join(tmpdir(), "verifier-stop-"));
    dirs.push(dir);
    prepareFakeCluster(dir, "ipsec-1.18-healthy");
    process.env.FAKE_KUBE_DIR = dir;
    const k = createKubectl({ kubeconfig: null, context: null, binary: join(__dirname, "fake-kubectl", "kubectl") });
    try {
      k.stop();
      const refused = await Promise.all([
        k.run(["get", "nodes", "-o", "json"]),
        k.exec({ namespace: "kube-system", pod: "cilium-ax7k", container: "cilium-agent" }, ["cilium-dbg", "encrypt", "status", "-o", "json"]).done,
      ]);
      for (const r of refused) assert.deepEqual([r.code, r.stderr], [null, "the verification was stopped"]);
      assert.deepEqual(calls(dir), [], "a process was started after the stop");
      const cleanup = await k.runAfterStop(["delete", "namespace", "cilium-encryption-verify-abcdef", "--ignore-not-found", "--wait=false"]);
      assert.equal(cleanup.code, 0, cleanup.stderr);
      assert.deepEqual(calls(dir), [["delete", "namespace", "cilium-encryption-verify-abcdef", "--ignore-not-found", "--wait=false"]]);
    } finally {
      k.close();
    }
  });

  it("the proxy's socket goes to TMPDIR unless the path would not fit a Unix socket address, then /tmp", () => {
    assert.equal(socketBase("/tmp/work.abc123/tmp"), "/tmp/work.abc123/tmp");
    const deep = `/home/runner/${"w".repeat(60)}/tmp`;
    assert.equal(socketBase(deep), "/tmp");
    // The longest TMPDIR kept: its socket path is exactly 107 bytes.
    const edge = `/${"d".repeat(107 - "/cilium-encryption-verify-XXXXXX/api.sock".length - 1)}`;
    assert.equal(socketBase(edge), edge);
    assert.equal(socketBase(`${edge}x`), "/tmp");
  });

  it("a kubectl that is not there is refused before anything starts, naming PATH", () => {
    assert.throws(
      () => createKubectl({ kubeconfig: null, context: null, binary: "/nonexistent/kubectl" }),
      (e: unknown) => e instanceof KubectlMissing && /^\/nonexistent\/kubectl is not on PATH: the verifier reads the cluster with kubectl/.test(e.message),
    );
    assert.equal(onPath("kubectl", join(__dirname, "fake-kubectl")), true);
    assert.equal(onPath("kubectl", `/nonexistent${delimiter}${join(__dirname, "fake-kubectl")}`), true);
    assert.equal(onPath("kubectl", "/nonexistent"), false);
    assert.equal(onPath("podExec.test.ts", __dirname), false, "not executable");
  });
});
