import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { parseVerifierArgs } from "../../../verifier/args";
import { type NodeInfo, parseCiliumConfig } from "../../../verifier/cluster";
import type { BackgroundProcess, ExecTarget, Kubectl, KubectlResult } from "../../../verifier/kubectl";
import { Teardown } from "../../../verifier/teardown";
import {
  CAPTURE_SECURITY,
  CONTROL_MARKER,
  captureFilter,
  LABEL,
  LABEL_VALUE,
  LIFETIME_ANNOTATION,
  LIFETIME_SLACK_SECONDS,
  leftNamespaces,
  MAX_LIFETIME_SECONDS,
  namespaceLifetime,
  pairsInFlight,
  parseRouteDevice,
  podNames,
  runWireCheck,
  samplePairs,
  WORKLOAD_SECURITY,
  wireManifests,
} from "../../../verifier/wire";
import { execArgv } from "./fakeCluster";
import { concat, esp, ethernet, fill, icmpEcho, ipv4, pcap, tcp } from "./packets";

const node = (name: string, ip: string | null, controlPlane = false): NodeInfo => ({ name, internalIPs: ip ? [ip] : [], podCIDRs: [], controlPlane });
const ipOf = (i: number) => `192.0.2.${i + 1}`;

describe("node pair sample", () => {
  it("pairs consecutive workers, then control-plane nodes, the odd one out toward the first", () => {
    const pairs = samplePairs([node("w2", "192.0.2.3"), node("cp", "192.0.2.1", true), node("w1", "192.0.2.2")]);
    assert.ok(Array.isArray(pairs));
    assert.deepEqual(
      pairs.map((p) => [p.index, p.client.name, p.server.name]),
      [
        [0, "w1", "w2"],
        [1, "cp", "w1"],
      ],
    );
    assert.deepEqual(
      (samplePairs([node("a", "192.0.2.1"), node("b", "192.0.2.2")]) as { client: NodeInfo }[]).map((p) => p.client.name),
      ["a"],
    );
  });

  it("needs two nodes with an address", () => {
    assert.equal(samplePairs([node("w1", "192.0.2.2"), node("w2", null)]), "needs two nodes with a Cilium agent and an InternalIP address, found 1");
    assert.equal(samplePairs([]), "needs two nodes with a Cilium agent and an InternalIP address, found 0");
  });

  it("covers every node with an address, in ceil(n/2) pairs of two distinct nodes, whatever the nodes", () => {
    const nodes = fc.uniqueArray(fc.record({ name: fc.string({ minLength: 1, maxLength: 6 }), addr: fc.boolean(), cp: fc.boolean() }), {
      selector: (n) => n.name,
      maxLength: 60,
    });
    fc.assert(
      fc.property(nodes, (spec) => {
        const list = spec.map((s, i) => node(s.name, s.addr ? ipOf(i % 250) : null, s.cp));
        const usable = list.filter((n) => n.internalIPs.length > 0);
        const pairs = samplePairs(list);
        if (usable.length < 2) return assert.equal(typeof pairs, "string");
        assert.ok(Array.isArray(pairs));
        assert.equal(pairs.length, Math.ceil(usable.length / 2));
        const covered = new Set(pairs.flatMap((p) => [p.client.name, p.server.name]));
        assert.deepEqual([...covered].sort(), usable.map((n) => n.name).sort());
        assert.ok(pairs.every((p, i) => p.index === i && p.client.name !== p.server.name));
        // Workers are paired with workers as long as there are two left.
        const workers = usable.filter((n) => !n.controlPlane).length;
        assert.ok(pairs.slice(0, Math.floor(workers / 2)).every((p) => !p.client.controlPlane && !p.server.controlPlane));
        return true;
      }),
      { numRuns: 300 },
    );
  });

  it("stays linear at scale: 1,000 nodes give 500 pairs", () => {
    const pairs = samplePairs(Array.from({ length: 1000 }, (_, i) => node(`n${String(i).padStart(4, "0")}`, `10.${i >> 8}.${i & 255}.1`)));
    assert.ok(Array.isArray(pairs) && pairs.length === 500);
  });
});

describe("wire check manifests and commands", () => {
  it("filters on the node pair and the pod pair, per address family", () => {
    assert.equal(
      captureFilter(["192.0.2.2", "fd00::2"], ["192.0.2.3", "fd00::3"], ["10.0.1.5"], ["10.0.2.6"]),
      "(host 192.0.2.2 and host 192.0.2.3) or (host fd00::2 and host fd00::3) or (host 10.0.1.5 and host 10.0.2.6)",
    );
  });

  it("reads the device of `ip -j route get`, refusing odd names", () => {
    assert.equal(parseRouteDevice('[{"dst":"192.0.2.3","gateway":"192.0.2.1","dev":"ens5","prefsrc":"192.0.2.2","flags":[],"uid":0,"cache":[]}]'), "ens5");
    assert.equal(parseRouteDevice('[{"dst":"192.0.2.3","dev":"eth0; rm -rf /"}]'), null);
    assert.equal(parseRouteDevice("[]"), null);
    assert.equal(parseRouteDevice("RTNETLINK answers: Network is unreachable"), null);
  });

  it("pods pinned to their nodes, tolerating taints, with the least privilege each needs", () => {
    const pairs = samplePairs([node("w1", "192.0.2.2"), node("w2", "192.0.2.3"), node("w3", "192.0.2.4")]);
    assert.ok(Array.isArray(pairs));
    const m = wireManifests("cilium-encryption-verify-abc123", 2400, pairs, "img/w@sha256:1", "img/c@sha256:2") as {
      items: Array<{
        kind: string;
        metadata: { name: string; namespace?: string; labels: Record<string, string>; annotations?: Record<string, string> };
        spec?: Record<string, unknown>;
      }>;
    };
    // The namespace says how long its run may live, so a later run can tell it was left behind.
    assert.deepEqual(m.items[0]!.metadata.annotations, { [LIFETIME_ANNOTATION]: "2400" });
    assert.equal(m.items[0]!.metadata.labels[LABEL], LABEL_VALUE);
    assert.deepEqual(
      m.items.map((i) => `${i.kind}/${i.metadata.name}`),
      [
        "Namespace/cilium-encryption-verify-abc123",
        "Pod/p0-server",
        "Pod/p0-client",
        "Pod/p0-capture-client",
        "Pod/p0-capture-server",
        "Pod/p1-server",
        "Pod/p1-client",
        "Pod/p1-capture-client",
        "Pod/p1-capture-server",
      ],
    );
    const pods = m.items.slice(1);
    assert.ok(pods.every((p) => p.metadata.namespace === "cilium-encryption-verify-abc123"));
    assert.deepEqual(
      pods.map((p) => p.spec!.nodeName),
      ["w2", "w1", "w1", "w2", "w1", "w3", "w3", "w1"],
    );
    assert.deepEqual(
      pods.map((p) => Boolean(p.spec!.hostNetwork)),
      [false, false, true, true, false, false, true, true],
    );
    for (const p of pods) {
      const c = (p.spec!.containers as Array<{ image: string; securityContext: Record<string, unknown> }>)[0]!;
      const capture = p.metadata.labels["cilium-encryption-verifier/role"] === "capture";
      assert.equal(c.image, capture ? "img/c@sha256:2" : "img/w@sha256:1");
      assert.deepEqual(c.securityContext, capture ? CAPTURE_SECURITY : WORKLOAD_SECURITY);
      assert.equal(p.spec!.automountServiceAccountToken, false);
    }
    assert.deepEqual(CAPTURE_SECURITY.capabilities, { drop: ["ALL"], add: ["NET_RAW"] });
    assert.equal(CAPTURE_SECURITY.privileged, false);
    assert.equal(CAPTURE_SECURITY.allowPrivilegeEscalation, false);
    assert.deepEqual(WORKLOAD_SECURITY.capabilities, { drop: ["ALL"] });
    assert.equal(WORKLOAD_SECURITY.runAsNonRoot, true);
  });
});

type Handler = (args: readonly string[], input: string) => Partial<KubectlResult> | undefined;

class ScriptedKubectl implements Kubectl {
  readonly calls: string[][] = [];
  private running = 0;
  maxCaptures = 0;
  constructor(private readonly handler: Handler) {}
  private answer(args: readonly string[], input: string): KubectlResult {
    this.calls.push([...args]);
    return { code: 0, stdout: Buffer.alloc(0), stderr: "", timedOut: false, ...(this.handler(args, input) ?? {}) };
  }
  async run(args: readonly string[], opts: { input?: string } = {}): Promise<KubectlResult> {
    await new Promise((r) => setImmediate(r));
    return this.answer(args, opts.input ?? "");
  }
  start(args: readonly string[]): BackgroundProcess {
    const r = this.answer(args, "");
    this.running++;
    this.maxCaptures = Math.max(this.maxCaptures, this.running);
    const done = new Promise<KubectlResult>((resolve) =>
      setTimeout(() => {
        this.running--;
        resolve(r);
      }, 5),
    );
    return { done, kill: () => undefined, waitForStderr: async (p) => p.test(r.stderr) };
  }
  exec(target: ExecTarget, command: readonly string[]): BackgroundProcess {
    return this.start(execArgv(target, command));
  }
  close(): void {}
}

const nodesOf = (n: number) => Array.from({ length: n }, (_, i) => node(`w${i}`, ipOf(i)));
const podIp = (name: string) => {
  const [, pair, role] = /^p(\d+)-(.*)$/.exec(name)!;
  return `10.${Number(pair)}.${role === "server" ? 2 : 1}.${role === "server" ? 6 : 5}`;
};
const podJson = (name: string, ready = true) => ({
  metadata: { name },
  spec: { nodeName: "w1" },
  status: { phase: ready ? "Running" : "Pending", podIPs: [{ ip: podIp(name) }], containerStatuses: [{ name: "c", ready }] },
});
const control = ethernet(ipv4(ipOf(0), ipOf(1), 1, icmpEcho(concat(fill(0, 16), CONTROL_MARKER))));
const encrypted = pcap([ethernet(ipv4(ipOf(0), ipOf(1), 50, esp(3, 1))), control]);

const OWN = "cilium-encryption-verify-c0ffee";
const CREATED = Date.parse("2026-01-01T12:00:00Z");
const ns = (name: string, createdSecondsBefore: number, more: { lifetime?: string; label?: string; deleting?: boolean } = {}) => ({
  metadata: {
    name,
    creationTimestamp: new Date(CREATED - createdSecondsBefore * 1000).toISOString(),
    labels: { [LABEL]: more.label ?? LABEL_VALUE },
    ...(more.lifetime === undefined ? {} : { annotations: { [LIFETIME_ANNOTATION]: more.lifetime } }),
    ...(more.deleting ? { deletionTimestamp: new Date(CREATED).toISOString() } : {}),
  },
});
const nsList = (...items: object[]) => JSON.stringify({ items: [ns(OWN, 0), ...items] });

function cluster(
  pairs: number,
  over: Handler = () => undefined,
  capture: (args: readonly string[]) => Uint8Array = () => encrypted,
  namespaces = nsList(),
): Handler {
  const names = Array.from({ length: pairs }, (_, i) => Object.values(podNames(i))).flat();
  return (args, input) => {
    const r = over(args, input);
    if (r) return r;
    if (args[0] === "get" && args[1] === "namespaces") return { stdout: Buffer.from(namespaces) };
    if (args.includes("get") && args.includes("pods")) return { stdout: Buffer.from(JSON.stringify({ items: names.map((n) => podJson(n)) })) };
    if (args.includes("ip")) return { stdout: Buffer.from('[{"dst":"192.0.2.3","dev":"eth0"}]') };
    if (args.includes("timeout"))
      return { stdout: Buffer.from(capture(args)), stderr: "tcpdump: listening on eth0, link-type EN10MB (Ethernet), snapshot length 512 bytes\n", code: 0 };
    return undefined;
  };
}

async function check(
  handler: Handler,
  opts: {
    mode?: "ipsec" | "wireguard";
    now?: () => number;
    nodes?: NodeInfo[];
    deadline?: number;
    inFlight?: number;
    config?: Record<string, string>;
    teardown?: Teardown;
  } = {},
) {
  const k = new ScriptedKubectl(handler);
  const args = parseVerifierArgs(["--mode", opts.mode ?? "ipsec", "--namespace", "kube-system", "--cilium-version", "1.18.1"]);
  const cfg = parseCiliumConfig(JSON.stringify({ data: { "routing-mode": "tunnel", ...opts.config } }), args.ciliumVersion);
  const log: string[] = [];
  const result = await runWireCheck(
    { args, cfg, nodes: opts.nodes ?? nodesOf(2), internalIps: new Map(), deadline: opts.deadline ?? 60_000 },
    {
      kubectl: k,
      exec: (t, c) => k.run(execArgv(t, c)),
      sleep: async () => undefined,
      now: opts.now ?? (() => 0),
      log: (l) => log.push(l),
      randomSuffix: () => "c0ffee",
      ...(opts.inFlight ? { pairsInFlight: opts.inFlight } : {}),
      ...(opts.teardown ? { teardown: opts.teardown } : {}),
    },
  );
  return { result, calls: k.calls, log, k };
}

const deleted = (calls: string[][]) => calls.some((c) => c.join(" ") === "delete namespace cilium-encryption-verify-c0ffee --ignore-not-found --wait=false");

describe("wire check run", () => {
  it("encrypted captures on both nodes verify; traffic, control, stop; the namespace is deleted", async () => {
    const { result, calls } = await check(cluster(1));
    assert.equal(result.verdict, "encrypted");
    assert.ok(
      "nodes" in result && result.nodes.length === 2 && result.nodes.every((n) => n.counts?.esp === 1 && n.counts.control === 1 && n.interface === "eth0"),
    );
    assert.ok(deleted(calls));
    const wget = calls.filter((c) => c.includes("wget"));
    assert.equal(wget.length, 1);
    assert.deepEqual(
      wget[0]!.filter((a) => a.startsWith("http")),
      Array(3).fill("http://10.0.2.6:8080/hostname"),
    );
    assert.equal(calls.filter((c) => c.includes("ping") && c.includes(CONTROL_MARKER.toString("hex"))).length, 2);
    const tcpdump = calls.filter((c) => c.includes("timeout"));
    assert.equal(tcpdump.length, 2);
    assert.ok(tcpdump.every((c) => c.includes("-p") && c.includes("-Q") && c[c.indexOf("-Q") + 1] === "out"));
    // The captures are stopped after the traffic, in their own pods.
    const stops = calls.map((c, i) => [c, i] as const).filter(([c]) => c.includes("pkill"));
    assert.deepEqual(
      stops.map(([c]) => c[3]),
      ["p0-capture-client", "p0-capture-server"],
    );
    assert.ok(stops.every(([, i]) => i > calls.findIndex((c) => c.includes("ping"))));
  });

  it("one pair per two nodes, every node captured, the captures bounded by the pairs in flight", async () => {
    const { result, calls, k, log } = await check(cluster(5), { nodes: nodesOf(9), inFlight: 2 });
    // With no time passing, progress is one line at the end, not one per pair.
    assert.deepEqual(
      log.filter((l) => /pair\(s\) checked/.test(l)),
      ["wire check: 5/5 pair(s) checked"],
    );
    assert.equal(result.verdict, "encrypted");
    assert.ok("nodes" in result);
    assert.deepEqual(new Set(result.nodes.map((n) => n.node)), new Set(nodesOf(9).map((n) => n.name)));
    assert.equal(result.nodes.length, 10);
    assert.equal(calls.filter((c) => c.includes("timeout")).length, 10);
    assert.ok(k.maxCaptures <= 4, `at most 2 pairs = 4 captures at once, saw ${k.maxCaptures}`);
    // Two captures per pair: --concurrency bounds the streams, whole pairs at a time.
    assert.deepEqual([1, 2, 3, 16, 256].map(pairsInFlight), [1, 1, 1, 8, 128]);
    // Pods are read with one list call per round, not one call per pod.
    assert.equal(calls.filter((c) => c.includes("pods")).length, 1);
  });

  it("a plaintext capture on one pair fails the wire check and names that pair's nodes", async () => {
    const leak = pcap([ethernet(ipv4(ipOf(0), ipOf(1), 50, esp(3, 1))), control, ethernet(ipv4("10.1.1.5", "10.1.2.6", 6, tcp(40000, 8080)))]);
    const { result } = await check(
      cluster(2, undefined, (a) => (a.includes("p1-capture-client") ? leak : encrypted)),
      { nodes: nodesOf(4) },
    );
    assert.equal(result.verdict, "plaintext");
    assert.ok("nodes" in result);
    assert.deepEqual(
      result.nodes.filter((n) => n.verdict === "plaintext").map((n) => n.node),
      ["w2"],
    );
  });

  it("every failure is an error of the wire check, never a pass, and still cleans up", async () => {
    const failures: Array<[Handler, RegExp]> = [
      [(a) => (a[0] === "apply" ? { code: 1, stderr: "forbidden" } : undefined), /cannot create the test pods: kubectl exited 1: forbidden/],
    ];
    for (const [h, re] of failures) {
      const { result, calls } = await check(cluster(1, h));
      assert.equal(result.verdict, "error");
      assert.match("reason" in result ? result.reason : "", re);
      assert.ok(deleted(calls), String(re));
    }
    const perNode: Array<[Handler, RegExp]> = [
      [(a) => (a.includes("ip") ? { code: 1, stderr: "ip: not found" } : undefined), /cannot find the egress interface on w0/],
      [
        (a) => (a.includes("timeout") ? { code: 1, stderr: "tcpdump: eth0: You don't have permission to capture" } : undefined),
        /tcpdump did not start on w0, w1/,
      ],
      [(a) => (a.includes("wget") ? { code: 1, stderr: "wget: download timed out" } : undefined), /test traffic between the pods failed/],
    ];
    for (const [h, re] of perNode) {
      const { result, calls } = await check(cluster(1, h));
      assert.equal(result.verdict, "inconclusive", String(re));
      assert.ok("nodes" in result && result.nodes.length === 2 && result.nodes.every((n) => n.verdict === "error" && re.test(n.reasons[0]!)), String(re));
      assert.ok(deleted(calls), String(re));
    }
  });

  it("a pair whose capture failed is checked once more: a cut stream then passes, a lasting failure stays an error", async () => {
    const cut = { code: 1, stderr: "simulated tcpdump: write EPIPE\nerror: Internal error occurred: error executing command in container\n" };
    let captures = 0;
    const once = await check(cluster(1, (a) => (a.includes("timeout") && ++captures <= 2 ? cut : undefined)));
    assert.equal(once.result.verdict, "encrypted");
    assert.equal(once.calls.filter((c) => c.includes("timeout")).length, 4);
    assert.ok(
      once.log.some((l) => /pair w0 -> w1 once more: tcpdump did not start on w0, w1: .*EPIPE/.test(l)),
      once.log.join("\n"),
    );
    const always = await check(cluster(1, (a) => (a.includes("timeout") ? cut : undefined)));
    assert.equal(always.result.verdict, "inconclusive");
    assert.equal(always.calls.filter((c) => c.includes("timeout")).length, 4);
  });

  it("pods that never become ready end the wait at the deadline", async () => {
    let t = 0;
    const pending = cluster(1, (a) => (a.includes("pods") ? { stdout: Buffer.from(JSON.stringify({ items: [podJson("p0-server", false)] })) } : undefined));
    const { result, calls } = await check(pending, { now: () => (t += 10_000) });
    assert.equal(result.verdict, "error");
    assert.match("reason" in result ? result.reason : "", /test pods not ready in time: p0-server \(Pending\), p0-client \(not created\)/);
    assert.ok(deleted(calls));
  });

  it("pairs not started before the deadline are errors, not passes", async () => {
    let t = 0;
    const { result } = await check(cluster(2), { nodes: nodesOf(4), inFlight: 1, deadline: 50_000, now: () => (t += 20_000) });
    assert.equal(result.verdict, "inconclusive");
    assert.ok("nodes" in result && result.nodes.some((n) => n.verdict === "error" && /timeout ran out/.test(n.reasons[0]!)));
  });

  it("an unreadable pod list is an error of the wire check, and still cleans up", async () => {
    const { result, calls } = await check(cluster(1, (a) => (a.includes("pods") ? { stdout: Buffer.from("<html>proxy error</html>") } : undefined)));
    assert.equal(result.verdict, "error");
    assert.match("reason" in result ? result.reason : "", /pod list is not JSON/);
    assert.ok(deleted(calls));
  });

  it("test traffic only in the IP families Cilium runs, whatever addresses the pods have", async () => {
    const dual = (a: readonly string[]) =>
      a.includes("pods")
        ? {
            stdout: Buffer.from(
              JSON.stringify({
                items: Object.values(podNames(0)).map((n) => ({
                  ...podJson(n),
                  status: { ...podJson(n).status, podIPs: [{ ip: podIp(n) }, { ip: `fd00::${n.length}` }] },
                })),
              }),
            ),
          }
        : undefined;
    const v4 = await check(cluster(1, dual));
    assert.deepEqual(
      v4.calls.filter((c) => c.includes("wget")).map((c) => c.at(-1)),
      ["http://10.0.2.6:8080/hostname"],
    );
    assert.ok(
      !v4.calls
        .find((c) => c.includes("timeout"))!
        .at(-1)!
        .includes("fd00::"),
    );
    const both = await check(cluster(1, dual), { config: { "enable-ipv6": "true" } });
    assert.deepEqual(
      both.calls.filter((c) => c.includes("wget")).map((c) => c.at(-1)),
      ["http://10.0.2.6:8080/hostname", "http://[fd00::9]:8080/hostname"],
    );
    const none = await check(cluster(1, dual), { config: { "enable-ipv4": "false" } });
    assert.ok("nodes" in none.result && /no address in the IP families Cilium runs \(none\)/.test(none.result.nodes[0]!.reasons[0]!));
  });

  it("an unreadable capture makes that node inconclusive, not encrypted", async () => {
    const { result } = await check(cluster(1, undefined, () => new TextEncoder().encode("tcpdump: syntax error\n")));
    assert.equal(result.verdict, "inconclusive");
    assert.ok("nodes" in result && /capture unreadable: not a pcap/.test(result.nodes[0]!.reasons[0]!));
  });
});

describe("namespaces left by stopped runs", () => {
  const OLD = "cilium-encryption-verify-01d001";
  const RUNNING = "cilium-encryption-verify-a11ce0";

  it("deletes what is older than the lifetime it declares, on the API server's clock, and nothing else", () => {
    const found = leftNamespaces(
      nsList(
        ns(OLD, 7200, { lifetime: "3600" }),
        ns(RUNNING, 600, { lifetime: "2400" }),
        ns("cilium-encryption-verify-01d002", 26 * 3600),
        ns("cilium-encryption-verify-a11ce1", 20 * 3600),
        ns("cilium-encryption-verify-01d003", 25 * 3600, { lifetime: "999999999" }),
        ns("cilium-encryption-verify-01d004", 7200, { lifetime: "1h" }),
        ns("cilium-encryption-verify-90e500", 7200, { lifetime: "60", deleting: true }),
        ns("cilium-encryption-verify-07e4e0", 7200, { lifetime: "60", label: "someone-else" }),
        ns("kube-system", 100 * 86400, { lifetime: "60" }),
        ns("cilium-encryption-verify-toolong1", 7200, { lifetime: "60" }),
      ),
      OWN,
    );
    assert.ok(typeof found !== "string");
    assert.deepEqual(found.left, [
      { name: OLD, ageSeconds: 7200, lifetimeSeconds: 3600 },
      // No lifetime, or one past any run's: the longest a run can live.
      { name: "cilium-encryption-verify-01d002", ageSeconds: 26 * 3600, lifetimeSeconds: MAX_LIFETIME_SECONDS },
      { name: "cilium-encryption-verify-01d003", ageSeconds: 25 * 3600, lifetimeSeconds: MAX_LIFETIME_SECONDS },
    ]);
    assert.deepEqual(found.running, [RUNNING, "cilium-encryption-verify-a11ce1", "cilium-encryption-verify-01d004"]);
  });

  it("without its own namespace in the list the server's time is unknown, and nothing is deleted", () => {
    assert.match(
      String(leftNamespaces(JSON.stringify({ items: [ns(OLD, 7200, { lifetime: "1" }).metadata].map((metadata) => ({ metadata })) }), OWN)),
      /not in the list/,
    );
    assert.match(String(leftNamespaces("<html>", OWN)), /not JSON/);
  });

  it("property: a namespace is deleted exactly when it is older than its declared lifetime, capped at the longest run", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3 * 86400 }), fc.integer({ min: 0, max: 3 * 86400 }), (age, lifetime) => {
        const found = leftNamespaces(nsList(ns(OLD, age, { lifetime: String(lifetime) })), OWN);
        assert.ok(typeof found !== "string");
        assert.equal(found.left.length === 1, age > Math.min(lifetime, MAX_LIFETIME_SECONDS));
        assert.equal(found.left.length + found.running.length, 1);
      }),
    );
  });

  it("property: a run's namespace outlives its deadline by the slack, and never declares more than the longest run", () => {
    fc.assert(
      fc.property(fc.integer({ min: -1e9, max: 1e11 }), (msLeft) => {
        const lifetime = namespaceLifetime(msLeft);
        assert.ok(lifetime >= Math.min(msLeft / 1000 + LIFETIME_SLACK_SECONDS, MAX_LIFETIME_SECONDS));
        assert.ok(lifetime >= LIFETIME_SLACK_SECONDS && lifetime <= MAX_LIFETIME_SECONDS);
      }),
    );
  });

  it("the wire check deletes namespaces left by stopped runs after creating its own, leaves running ones, and says so", async () => {
    const { result, calls, log } = await check(
      cluster(1, undefined, undefined, nsList(ns(OLD, 7200, { lifetime: "3600" }), ns(RUNNING, 600, { lifetime: "2400" }))),
    );
    assert.equal(result.verdict, "encrypted");
    const i = calls.findIndex((c) => c.join(" ") === `delete namespace ${OLD} --ignore-not-found --wait=false`);
    assert.ok(i > calls.findIndex((c) => c[0] === "apply"), "swept after its own namespace exists");
    assert.ok(!calls.some((c) => c[0] === "delete" && c.includes(RUNNING)));
    assert.deepEqual(
      calls.filter((c) => c[0] === "get" && c[1] === "namespaces"),
      [["get", "namespaces", "-l", `${LABEL}=${LABEL_VALUE}`, "-o", "json"]],
    );
    assert.ok(log.includes(`wire check: deleting namespace(s) left by earlier runs that were stopped: ${OLD} (created 2h ago, lifetime 60m)`), log.join("\n"));
    assert.ok(log.includes(`wire check: namespace(s) of other runs still within their lifetime, left alone: ${RUNNING}`), log.join("\n"));
    assert.ok(deleted(calls));
  });

  it("a namespace list it may not read is logged and does not touch the check", async () => {
    const { result, log } = await check(
      cluster(1, (a) =>
        a[1] === "namespaces" ? { code: 1, stderr: 'Error from server (Forbidden): namespaces is forbidden: cannot list resource "namespaces"' } : undefined,
      ),
    );
    assert.equal(result.verdict, "encrypted");
    assert.ok(log.some((l) => /^wire check: cannot look for namespaces left by earlier runs: kubectl exited 1: .*Forbidden/.test(l)));
  });

  it("a stop while the check runs deletes its namespace once, with the stop's kubectl; the check's own cleanup joins it", async () => {
    const teardown = new Teardown();
    const afterStop: string[][] = [];
    let stopping: Promise<string[]> | null = null;
    const stopOnPods: Handler = (a) => {
      if (a.includes("pods") && stopping === null) {
        stopping = teardown.stop(async (args) => {
          afterStop.push([...args]);
          return { code: 0, stdout: Buffer.alloc(0), stderr: "", timedOut: false };
        }, 5_000);
      }
      return undefined;
    };
    const { calls } = await check(cluster(1, stopOnPods), { teardown });
    assert.deepEqual(await stopping, []);
    assert.deepEqual(afterStop, [["delete", "namespace", OWN, "--ignore-not-found", "--wait=false"]]);
    assert.ok(!deleted(calls), "deleted twice");
    assert.deepEqual(await teardown.stop(async () => assert.fail("nothing is left to undo"), 1_000), []);
  });
});
