import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { parseVerifierArgs } from "../../../verifier/args";
import type { BackgroundProcess, ExecTarget, Kubectl, KubectlResult } from "../../../verifier/kubectl";
import type { Report } from "../../../verifier/report";
import { verify } from "../../../verifier/run";
import { calls, ciliumNodeLists, execArgv, type FakeOptions, handleKubectl, prepareFakeCluster, readsOf } from "./fakeCluster";
import { loadManifest, SCENARIO_KEY_ID, scenarioNames } from "./scenarios";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

// Answers from the fake cluster, one event-loop turn later so concurrent callers interleave, and
// records which agent was asked at which (fake) time.
class InProcessKubectl implements Kubectl {
  inFlight = 0;
  maxInFlight = 0;
  execs: Array<{ pod: string; at: number }> = [];
  constructor(
    private readonly dir: string,
    private readonly clock: () => number,
  ) {}
  async run(args: readonly string[], opts: { input?: string } = {}): Promise<KubectlResult> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((r) => setImmediate(r));
    const i = args.indexOf("exec");
    if (i >= 0 && args.includes("cilium-dbg")) this.execs.push({ pod: args[i + 1]!, at: this.clock() });
    this.inFlight--;
    return { ...handleKubectl(this.dir, args, opts.input ?? ""), timedOut: false };
  }
  start(args: readonly string[]): BackgroundProcess {
    const r: KubectlResult = { ...handleKubectl(this.dir, args, ""), timedOut: false };
    return { done: Promise.resolve(r), kill: () => undefined, waitForStderr: async (p) => p.test(r.stderr) };
  }
  exec(target: ExecTarget, command: readonly string[]): BackgroundProcess {
    const done = this.run(execArgv(target, command));
    return { done, kill: () => undefined, waitForStderr: async (p) => p.test((await done).stderr) };
  }
  close(): void {}
}

interface Run {
  report: Report;
  log: string[];
  dir: string;
  slept: number;
  kubectl: InProcessKubectl;
}

async function run(scenario: string, extra: string[] = [], fake: FakeOptions = {}): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), "verifier-run-"));
  dirs.push(dir);
  prepareFakeCluster(dir, scenario, fake);
  const m = loadManifest(scenario);
  const timeout = m.run ? ["--timeout", String(m.run.timeout)] : [];
  const asserted = Object.entries({ "node-encryption": m.expectations.nodeEncryption, "strict-mode": m.expectations.strictMode }).flatMap(([flag, value]) =>
    value === null || extra.includes(`--${flag}`) ? [] : [`--${flag}`, String(value)],
  );
  const args = parseVerifierArgs([
    "--mode",
    m.mode,
    "--namespace",
    "kube-system",
    "--cilium-version",
    m.ciliumVersion,
    "--poll-interval",
    "5",
    ...timeout,
    ...asserted,
    ...extra,
  ]);
  let clock = 1_000_000;
  let slept = 0;
  const log: string[] = [];
  const kubectl = new InProcessKubectl(dir, () => clock);
  const report = await verify(args, {
    kubectl,
    now: () => clock,
    sleep: async (ms) => {
      clock += ms;
      slept += ms;
    },
    log: (l) => log.push(l),
  });
  return { report, log, dir, slept, kubectl };
}

describe("every fixture scenario, end to end through verify()", () => {
  for (const name of scenarioNames()) {
    const m = loadManifest(name);
    it(`${name}: ${m.expect.verdict}${m.expect.problems.length ? `, naming ${m.expect.problems.map((p) => p.node).join(", ")}` : ""}`, async () => {
      const { report, kubectl } = await run(name, ["--wire-check", "off"]);
      assert.equal(report.verdict, m.expect.verdict, JSON.stringify(report.problems));
      assert.equal(report.problems.length, m.expect.problems.length, JSON.stringify(report.problems));
      m.expect.problems.forEach((p, i) => {
        assert.equal(report.problems[i]!.node, p.node);
        assert.equal(report.problems[i]!.severity, p.severity);
        for (const part of p.includes) assert.ok(report.problems[i]!.reason.includes(part), `${report.problems[i]!.reason} should include ${part}`);
      });
      for (const w of m.expect.warningsInclude ?? [])
        assert.ok(
          report.warnings.some((x) => x.includes(w)),
          `warning ${w} in ${JSON.stringify(report.warnings)}`,
        );
      // At most one exec per agent per round (rounds are the distinct times of the fake clock).
      const perRound = new Map<string, number>();
      for (const e of kubectl.execs) perRound.set(`${e.pod}@${e.at}`, (perRound.get(`${e.pod}@${e.at}`) ?? 0) + 1);
      assert.ok(
        [...perRound.values()].every((n) => n === 1),
        JSON.stringify([...perRound]),
      );
      assert.equal(report.stats?.agentQueries, kubectl.execs.length);
    });
  }
});

describe("verify() against a stand-in cluster", () => {
  it("healthy IPsec 1.18: verified, wire check encrypted on both nodes, test namespace removed; ok nodes are counted, not listed", async () => {
    const { report, dir, log } = await run("ipsec-1.18-healthy");
    assert.equal(report.verdict, "verified", JSON.stringify(report.problems));
    assert.equal(report.exitCode, 0);
    assert.equal(report.wire.verdict, "encrypted");
    assert.ok(report.wire.captured >= 2);
    assert.deepEqual([report.wire.encrypted, report.wire.nodes], [report.wire.captured, []]);
    assert.deepEqual(report.nodes, []);
    assert.deepEqual(report.nodeCounts, { total: 3, ok: 3, fail: 0, unverified: 0, withWarnings: 0 });
    assert.deepEqual(report.cluster?.expectedKeys, { min: 8, max: 8 });
    assert.equal(report.cluster?.knownFrom, "CiliumNode");
    const c = calls(dir);
    const ns = c.find((a) => a[0] === "delete")?.[2];
    assert.match(ns ?? "", /^cilium-encryption-verify-[0-9a-f]{6}$/);
    assert.ok(c.some((a) => a.includes("tcpdump") && a.includes("-Q") && a.includes("out")));
    assert.ok(!c.some((a) => a.some((x) => /secret/i.test(x))), "the verifier must never touch Secrets");
    assert.ok(log.some((l) => /successfully rolled out/.test(l)));
  });

  it("IPsec reads an agent again while its XFRM counters are not zero and still growing, and stops asking settled agents", async () => {
    const { report, dir } = await run("ipsec-1.20-xfrm-transient", ["--wire-check", "off"]);
    assert.deepEqual(
      ["node-a", "node-b", "node-c"].map((n) => readsOf(dir, n, "encrypt-status")),
      [3, 5, 1],
    );
    assert.equal(report.stats?.rounds, 5);
    const b = report.nodes.find((n) => n.node === "node-b")!;
    assert.deepEqual(b.ipsec?.xfrm, { XfrmOutNoStates: { total: 25, growth: 20 } });
    assert.deepEqual(report.xfrm, { XfrmInNoStates: { total: 14, growth: 4, nodes: 1 }, XfrmOutNoStates: { total: 25, growth: 20, nodes: 1 } });
  });

  it("WireGuard is settled by one `cilium-dbg status` per agent (node encryption is only there)", async () => {
    const { report, dir } = await run("wireguard-1.20-healthy", ["--wire-check", "off", "--node-encryption", "false"]);
    assert.equal(report.verdict, "verified");
    const execs = calls(dir).filter((a) => a.includes("cilium-dbg"));
    assert.equal(execs.length, 5);
    assert.ok(execs.every((a) => a.slice(a.indexOf("cilium-dbg")).join(" ") === "cilium-dbg status -o json"));
  });

  it("asks at most --concurrency agents at once", async () => {
    const { kubectl } = await run("wireguard-1.20-healthy", ["--wire-check", "off", "--concurrency", "2"]);
    assert.equal(kubectl.maxInFlight, 2);
  });

  it("backs off when the API server throttles (429), then carries on", async () => {
    const { report, log, slept } = await run("ipsec-1.16-healthy", ["--wire-check", "off"], { throttle: 3 });
    assert.equal(report.verdict, "verified", JSON.stringify(report.problems));
    assert.equal(report.stats?.throttled, 3);
    assert.deepEqual(
      log.filter((l) => /throttling/.test(l)),
      [1, 2, 4].map((s) => `the API server is throttling requests (429); waiting ${s}s`),
    );
    assert.equal(slept, 7_000);
  });

  it("without the CiliumNode API, counts the nodes with an agent and says so", async () => {
    const { report } = await run("ipsec-1.18-healthy", ["--wire-check", "off"], { noCiliumNodes: true });
    assert.equal(report.verdict, "verified");
    assert.equal(report.cluster?.knownFrom, "agent pods");
    assert.match(report.warnings[0]!, /CiliumNode API is not served/);
  });

  it("a CiliumNode that outlived its Node still counts: its peers are expected", async () => {
    const { report } = await run("wireguard-1.19-ciliumnode-without-node", ["--wire-check", "off"]);
    assert.deepEqual(
      [report.verdict, report.cluster?.nodeCount, report.cluster?.knownNodes, report.cluster?.expectedPeers],
      ["verified", 3, 4, { min: 3, max: 3 }],
    );
  });

  it("waits for the DaemonSet rollout, printing progress", async () => {
    const { report, log, slept } = await run("ipsec-1.16-healthy", ["--wire-check", "off"], { rolloutPending: 2 });
    assert.equal(report.verdict, "verified");
    assert.deepEqual(log.filter((l) => /daemon set/.test(l)).slice(0, 3), [
      'daemon set "cilium" rollout: 1 out of 3 new pods have been updated',
      'daemon set "cilium" rollout: 2 out of 3 new pods have been updated',
      'daemon set "cilium" successfully rolled out (3 pods)',
    ]);
    assert.equal(slept, 10_000);
  });

  it("a rollout that does not finish in time cannot be verified (exit 2)", async () => {
    const { report } = await run("ipsec-1.16-healthy", ["--timeout", "12"], { rolloutPending: 100 });
    assert.equal(report.verdict, "unverified");
    assert.equal(report.exitCode, 2);
    assert.match(report.error ?? "", /rollout did not finish within 12s: daemon set "cilium" rollout: 0 out of 3/);
  });

  it("an unreachable API server cannot be verified (exit 2) after a few attempts", async () => {
    const { report, dir } = await run("ipsec-1.16-healthy", [], { unreachable: true });
    assert.equal(report.exitCode, 2);
    // The connection settings are what to check, not Cilium's DaemonSet.
    assert.match(
      report.error ?? "",
      /^cannot reach the cluster's API server \(check --kubeconfig and --context\): kubectl exited 1: The connection to the server 127\.0\.0\.1:6443 was refused/,
    );
    assert.equal(calls(dir).length, 3);
  });

  it("waits for a key rotation to settle, then verifies", async () => {
    const { report, log, dir } = await run("ipsec-1.18-rotation", ["--wire-check", "off"]);
    assert.equal(report.verdict, "verified", JSON.stringify(report.problems));
    assert.equal(log.filter((l) => /key rotation in progress/.test(l)).length, 2);
    assert.match(
      log.find((l) => /key rotation in progress/.test(l))!,
      /^round 1: 3 agent\(s\) to read again: node-a \(key rotation in progress: 16 keys in use, 8 once settled/,
    );
    assert.equal(calls(dir).filter((a) => a.includes("cilium-dbg")).length, 9);
  });

  it("a rotation still running at the timeout cannot be verified, naming the nodes", async () => {
    const { report } = await run("ipsec-1.18-rotation", ["--wire-check", "off", "--timeout", "7"]);
    assert.equal(report.exitCode, 2);
    assert.deepEqual(
      report.problems.map((p) => p.node),
      ["node-a", "node-b", "node-c"],
    );
    assert.match(report.problems[0]!.reason, /^key rotation did not settle: 16 keys in use, 8 once settled/);
  });

  it("growing XFRM errors fail, naming the node, the counter, its total and growth; the wire check still runs", async () => {
    const { report } = await run("ipsec-1.17-xfrm-errors");
    assert.equal(report.exitCode, 1);
    assert.deepEqual(
      report.problems.map((p) => [p.node, p.severity]),
      [["node-b", "fail"]],
    );
    assert.match(report.problems[0]!.reason, /^XFRM errors growing: XfrmInStateProtoError \+4 \(total 5\) in 5s/);
    assert.equal(report.wire.verdict, "encrypted");
    assert.deepEqual(
      report.nodes.map((n) => n.node),
      ["node-b"],
    );
  });

  it("a plaintext packet on the wire fails even when every agent looks healthy", async () => {
    const { report } = await run("ipsec-1.18-healthy", [], { wireLeak: true });
    assert.equal(report.verdict, "not-encrypted");
    assert.equal(report.wire.verdict, "plaintext");
    const wireProblems = report.problems.filter((p) => p.reason.startsWith("wire check"));
    assert.deepEqual([...new Set(wireProblems.map((p) => p.node))].sort(), ["node-a", "node-b", "node-c"]);
    assert.deepEqual(
      report.wire.nodes.map((n) => n.verdict),
      report.wire.nodes.map(() => "plaintext"),
    );
    assert.match(wireProblems[0]!.reason, /plaintext .* inside the overlay/);
  });

  it("--wire-check off reports the wire check as skipped", async () => {
    const { report, dir } = await run("wireguard-1.20-healthy", ["--wire-check", "off", "--node-encryption", "false"]);
    assert.equal(report.verdict, "verified", JSON.stringify(report.problems));
    assert.deepEqual(report.wire, { verdict: "skipped", reason: "--wire-check off", captured: 0, encrypted: 0, nodes: [] });
    assert.ok(!calls(dir).some((a) => a[0] === "apply"));
  });

  it("WireGuard with node encryption: the control-plane opt-out is warned and its node listed", async () => {
    const { report } = await run("wireguard-1.19-node-encryption", ["--wire-check", "off", "--node-encryption", "true", "--strict-mode", "true"]);
    assert.equal(report.verdict, "verified", JSON.stringify(report.problems));
    assert.ok(report.warnings.some((w) => w.startsWith("node-a: node encryption opted out")));
    assert.deepEqual(
      report.nodes.map((n) => [n.node, n.wireguard?.nodeEncryption]),
      [["node-a", "OptedOut"]],
    );
  });

  it("a node without an agent fails; the others are judged on the nodes Cilium knows", async () => {
    const { report } = await run("wireguard-1.18-agent-missing", ["--wire-check", "off"]);
    assert.equal(report.exitCode, 1);
    assert.deepEqual(
      report.problems.map((p) => p.node),
      ["node-c"],
    );
    assert.deepEqual([report.cluster?.agentCount, report.cluster?.knownNodes], [2, 2]);
  });
});

// After a rotation an agent announces the new SPI in its CiliumNode (spec.encryption.key, from
// LocalNode.EncryptionKey: cilium v1.16.19-v1.20.2 pkg/nodediscovery/nodediscovery.go
// mutateNodeResource) only once its key file watcher loaded the new key
// (pkg/datapath/linux/ipsec/ipsec_linux.go keyfileWatcher); until then its key count is the old
// key's steady count.
describe("--key-id: every node must announce the new key id", () => {
  const ROTATED = SCENARIO_KEY_ID + 1;
  const step = (a: number, b: number, c: number) => ({ "node-a": a, "node-b": b, "node-c": c });

  it("a rotation: CiliumNodes move to the new id across rounds; each agent is read again only once it announces it, then waited out until its old states are reclaimed", async () => {
    const old = SCENARIO_KEY_ID;
    const { report, dir, log, kubectl } = await run("ipsec-1.18-rotation", ["--wire-check", "off", "--key-id", String(ROTATED)], {
      keyIds: [step(ROTATED, old, old), step(ROTATED, ROTATED, old), step(ROTATED, ROTATED, ROTATED)],
    });
    assert.equal(report.verdict, "verified", JSON.stringify(report.problems));
    assert.equal(report.cluster?.expectedKeyId, ROTATED);
    // One list at the start, then one per round while a node is behind (rounds 2 and 3).
    assert.equal(ciliumNodeLists(dir), 3);
    assert.equal(report.stats?.rounds, 5);
    // Round 1 asks all; node-b (moved in round 2) is read from round 3, node-c (moved in round 3) from round 4.
    const roundOf = (pod: string) => kubectl.execs.filter((e) => e.pod === pod).map((e) => (e.at - kubectl.execs[0]!.at) / 5000 + 1);
    assert.deepEqual(
      [roundOf("cilium-ax7k"), roundOf("cilium-bx7k"), roundOf("cilium-cx7k")],
      [
        [1, 2, 3],
        [1, 3, 4],
        [1, 4, 5],
      ],
    );
    assert.match(
      log.find((l) => l.startsWith("round 1:"))!,
      new RegExp(`node-b \\(announces key id ${old} in its CiliumNode, expected ${ROTATED}: waiting for the agent to load the new key\\)`),
    );
  });

  it("an agent that never loads the new key: unverified naming the node and the id it announces; its agent is not asked again meanwhile", async () => {
    const { report, dir } = await run("ipsec-1.18-healthy", ["--wire-check", "off", "--key-id", String(ROTATED), "--timeout", "12"], {
      keyIds: [step(ROTATED, SCENARIO_KEY_ID, ROTATED)],
    });
    assert.equal(report.exitCode, 2);
    assert.deepEqual(
      report.problems.map((p) => [p.node, p.severity, p.reason]),
      [["node-b", "unverified", `still announces key id ${SCENARIO_KEY_ID} (expected ${ROTATED}): the agent has not loaded the new key`]],
    );
    assert.deepEqual(
      ["node-a", "node-b", "node-c"].map((n) => readsOf(dir, n, "encrypt-status")),
      [1, 1, 1],
    );
    assert.equal(ciliumNodeLists(dir), 3);
  });

  it("a healthy cluster already on the key id settles in one round with the one CiliumNode list", async () => {
    const { report, dir } = await run("ipsec-1.20-healthy", ["--wire-check", "off", "--key-id", String(SCENARIO_KEY_ID)]);
    assert.equal(report.verdict, "verified", JSON.stringify(report.problems));
    assert.deepEqual([report.stats?.rounds, ciliumNodeLists(dir)], [1, 1]);
  });

  it("without the key watcher a node on the old id fails at once: it loads the key file only when it starts", async () => {
    const { report } = await run("ipsec-1.18-healthy", ["--wire-check", "off", "--key-id", String(ROTATED)], {
      keyIds: [step(ROTATED, SCENARIO_KEY_ID, ROTATED)],
      config: { "enable-ipsec-key-watcher": "false" },
    });
    assert.equal(report.exitCode, 1);
    assert.deepEqual([report.problems.map((p) => p.node), report.stats?.rounds], [["node-b"], 1]);
    assert.match(report.problems[0]!.reason, /enable-ipsec-key-watcher "false"/);
    assert.equal(report.cluster?.configRead["enable-ipsec-key-watcher"], "false");
  });

  it("without the CiliumNode API the key id cannot be read: unverified at once", async () => {
    const { report } = await run("ipsec-1.18-healthy", ["--wire-check", "off", "--key-id", String(SCENARIO_KEY_ID)], { noCiliumNodes: true });
    assert.equal(report.exitCode, 2);
    assert.deepEqual([report.problems.length, report.stats?.rounds], [3, 1]);
    assert.match(report.problems[0]!.reason, /CiliumNode API is not served, so the key id this node's agent uses/);
  });
});
