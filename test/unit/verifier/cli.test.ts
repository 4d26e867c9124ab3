import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, it } from "node:test";
import { USAGE } from "../../../verifier/args";
import type { Digest, Report } from "../../../verifier/report";
import { calls, type FakeOptions, prepareFakeCluster } from "./fakeCluster";

const ROOT = join(__dirname, "../../..");
const FAKE_KUBECTL_DIR = join(__dirname, "fake-kubectl");
const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function cli(argv: string[], scenario = "ipsec-1.18-healthy", fake: FakeOptions = {}) {
  const dir = mkdtempSync(join(tmpdir(), "verifier-cli-"));
  dirs.push(dir);
  prepareFakeCluster(dir, scenario, fake);
  const r = spawnSync(process.execPath, ["--import", "tsx", "verifier/main.ts", ...argv], {
    cwd: ROOT,
    env: { ...process.env, PATH: `${FAKE_KUBECTL_DIR}:${dirname(process.execPath)}:${process.env.PATH}`, FAKE_KUBE_DIR: dir },
    encoding: "utf8",
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, dir };
}

const base = ["--namespace", "kube-system", "--kubeconfig", "/tmp/none.kubeconfig", "--context", "e2e"];

describe("verifier/main.ts as the Pulumi Command runs it", () => {
  it("verified: exit 0, the JSON report on stdout, a short summary on stderr", () => {
    const r = cli(["--mode", "ipsec", "--cilium-version", "1.18.11", "--wire-check", "off", "--poll-interval", "0.05", ...base]);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as Report;
    assert.deepEqual([report.verdict, report.schemaVersion, report.nodeCounts.ok], ["verified", 2, 3]);
    assert.match(r.stderr, /VERIFIED: ipsec encryption is on and working \(exit 0\)/);
    assert.match(r.stderr, /nodes: 3 ok, 0 failed, 0 not verified, 0 with warnings/);
    // The context goes into a private kubeconfig copy read from the given one, never onto a command line.
    const [view, ...rest] = calls(r.dir);
    assert.deepEqual(view, ["--kubeconfig=/tmp/none.kubeconfig", "config", "view", "--raw", "--flatten", "-o", "yaml"]);
    const own = rest[0]![0]!;
    assert.match(own, /^--kubeconfig=.*cilium-encryption-verify-.*\/kubeconfig$/);
    assert.ok(rest.every((a) => a[0] === own && !a.some((x) => x.includes("e2e"))));
    // The agents are read through one kubectl proxy that serves pod exec only, on a private socket.
    const proxies = rest.filter((a) => a[1] === "proxy");
    assert.equal(proxies.length, 1);
    assert.match(proxies[0]![2]!, /^--unix-socket=.*cilium-encryption-verify-[^/]+\/api\.sock$/);
    assert.ok(proxies[0]!.includes("--accept-paths=^/api/v1/namespaces/[^/]+/pods/[^/]+/exec$"));
    assert.equal(rest.filter((a) => a.includes("exec") && a.includes("cilium-dbg")).length, 3);
  });

  it("not encrypted: exit 1, a short digest on stdout (it becomes the error of pulumi up), the full report in --report-file", () => {
    const file = join(mkdtempSync(join(tmpdir(), "verifier-report-")), "report.json");
    dirs.push(dirname(file));
    const r = cli(
      ["--mode", "ipsec", "--cilium-version", "1.17.16", "--wire-check", "off", "--poll-interval", "0.05", "--report-file", file, ...base],
      "ipsec-1.17-xfrm-errors",
    );
    assert.equal(r.code, 1);
    const d = JSON.parse(r.stdout) as Digest;
    assert.deepEqual(Object.keys(d), ["schemaVersion", "verdict", "exitCode", "mode", "error", "nodeCounts", "problems", "problemsOmitted", "reportFile"]);
    assert.deepEqual([d.verdict, d.problems.map((p) => p.node), d.problemsOmitted, d.reportFile], ["not-encrypted", ["node-b"], 0, file]);
    const full = JSON.parse(readFileSync(file, "utf8")) as Report;
    assert.deepEqual(
      full.nodes.map((n) => [n.node, n.ipsec?.xfrm]),
      [["node-b", { XfrmInNoStates: { total: 2, growth: 0 }, XfrmInStateProtoError: { total: 5, growth: 4 } }]],
    );
    assert.match(r.stderr, /FAIL node-b: XFRM errors growing: XfrmInStateProtoError \+4 \(total 5\)/);
  });

  it("--help prints the usage on stdout and exits 0", () => {
    const r = cli(["--help"]);
    assert.deepEqual([r.code, r.stdout.trim(), r.stderr], [0, USAGE, ""]);
    assert.deepEqual(calls(r.dir), []);
  });

  it("a bad flag: the reason and the usage on stderr, nothing on stdout, exit 2", () => {
    for (const argv of [
      ["--mode", "gre", "--cilium-version", "1.18.11", ...base],
      ["--mode", "ipsec", "--frobnicate", ...base],
    ]) {
      const r = cli(argv);
      assert.equal(r.code, 2);
      assert.equal(r.stdout, "", "no JSON on a usage error");
      assert.match(r.stderr, /^verify: (--mode must be one of ipsec, wireguard; got "gre"|Unknown option '--frobnicate')/);
      assert.ok(r.stderr.includes(USAGE));
      assert.deepEqual(calls(r.dir), []);
    }
  });
});
