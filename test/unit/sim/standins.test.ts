// The wire check's commands as kwok runs them in the simulated cluster: the real stand-in
// processes of test/sim/bin, against a stand-in of the agent simulator's sockets, read back by the
// verifier's own classifier.
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type ClassifyOptions, judgeCapture, summarizeCapture } from "../../../verifier/classify";
import { CAPTURE_SECURITY, CONTROL_MARKER, captureFilter } from "../../../verifier/wire";
import { hasNetRaw, parseTcpdump } from "../../sim/datapath/cli";

const BIN = join(__dirname, "..", "..", "sim", "bin");
const NODES = [
  { name: "node-a", ip: "198.18.0.1", cidr: "198.19.0.0/26", cip: "198.19.0.62" },
  { name: "node-b", ip: "198.18.0.2", cidr: "198.19.0.64/26", cip: "198.19.0.126" },
];
const PODS: Record<string, { node: string; ip: string; hostNetwork: boolean; securityContext?: Record<string, unknown> }> = {
  client: { node: "node-a", ip: "198.19.0.1", hostNetwork: false },
  server: { node: "node-b", ip: "198.19.0.65", hostNetwork: false },
  "capture-a": { node: "node-a", ip: "198.18.0.1", hostNetwork: true, securityContext: CAPTURE_SECURITY },
  "capture-b": { node: "node-b", ip: "198.18.0.2", hostNetwork: true, securityContext: CAPTURE_SECURITY },
  "capture-unprivileged": { node: "node-a", ip: "198.18.0.1", hostNetwork: true, securityContext: { capabilities: { drop: ["ALL"] } } },
};

// What the agent simulator answers; `encryption` is switched by the tests.
let encryption: "ipsec" | "none" = "ipsec";

function serve(path: string, answer: (url: URL) => [number, unknown]): Promise<Server> {
  const s = createServer((req, res) => {
    const [code, body] = answer(new URL(req.url ?? "/", "http://x"));
    res.writeHead(code, { "Content-Type": "application/json" });
    res.end(JSON.stringify(body));
  });
  return new Promise((resolve) => s.listen(path, () => resolve(s)));
}

let dir = "";
// What the stand-ins asked the simulator and the API for, in order.
const asked: string[] = [];
const servers: Server[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "sim-standins-"));
  // What test/sim/sim.sh start does first: the stand-ins run the datapath from this bundle.
  execFileSync("bash", [join(__dirname, "..", "..", "sim", "datapath", "bundle.sh"), join(dir, "datapath.cjs")]);
  servers.push(
    await serve(join(dir, "sim.sock"), (u) => {
      asked.push(`sim ${u.pathname}${u.search}`);
      if (u.pathname === "/nodes") return [200, { nodes: NODES.map((n) => ({ name: n.name, internalIPs: [n.ip], podCIDRs: [n.cidr] })) }];
      if (u.pathname === "/state") {
        const only = u.searchParams.get("nodes")?.split(",");
        return [
          200,
          {
            nodes: NODES.filter((n) => only === undefined || only.includes(n.name)).map((n) => ({
              name: n.name,
              internalIPs: [n.ip],
              labels: {},
              agent: {
                pod: { namespace: "kube-system", name: `cilium-${n.name}` },
                version: "1.17.16",
                config: { routingMode: "tunnel", tunnelProtocol: "vxlan" },
                ipsec: encryption === "ipsec" ? { key: { spi: 3, algorithm: "rfc4106(gcm(aes))" } } : null,
                wireguard: null,
              },
            })),
          },
        ];
      }
      if (u.pathname === "/path") {
        const p = { from: u.searchParams.get("from"), to: u.searchParams.get("to") };
        return [200, encryption === "ipsec" ? { ...p, encryption, ipsec: { spi: 3, receiverHasState: true, sameKey: true } } : { ...p, encryption: "none" }];
      }
      return [404, {}];
    }),
    await serve(join(dir, "kapi.sock"), (u) => {
      asked.push(`kapi ${u.pathname}${u.search}`);
      const cn = /^\/apis\/cilium\.io\/v2\/ciliumnodes\/(.+)$/.exec(u.pathname);
      const n = cn ? NODES.find((x) => x.name === decodeURIComponent(cn[1]!)) : undefined;
      if (n) {
        return [
          200,
          {
            metadata: { name: n.name },
            spec: {
              addresses: [
                { type: "CiliumInternalIP", ip: n.cip },
                { type: "InternalIP", ip: n.ip },
              ],
            },
          },
        ];
      }
      if (u.pathname === "/api/v1/namespaces/kube-system/configmaps/cilium-config") return [200, { data: { "tunnel-port": "8472" } }];
      const m = /^\/api\/v1\/namespaces\/ns\/pods\/(.+)$/.exec(u.pathname);
      const p = m ? PODS[m[1]!] : undefined;
      if (p) {
        return [
          200,
          {
            metadata: { name: m![1], namespace: "ns" },
            spec: {
              nodeName: p.node,
              hostNetwork: p.hostNetwork,
              containers: [{ name: "c", ...(p.securityContext ? { securityContext: p.securityContext } : {}) }],
            },
            status: { podIPs: [{ ip: p.ip }] },
          },
        ];
      }
      return [404, { kind: "Status" }];
    }),
  );
});

after(() => {
  for (const s of servers) s.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Proc {
  code: Promise<number | null>;
  stdout: Buffer[];
  stderr: () => string;
}

function run(pod: string, cmd: string, args: string[], env: Record<string, string> = {}): Proc {
  const p = PODS[pod]!;
  const child = spawn(join(BIN, cmd), args, {
    env: { ...process.env, SIM_STATE_DIR: dir, SIM_POD_NAME: pod, SIM_POD_NAMESPACE: "ns", SIM_NODE_NAME: p.node, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const stdout: Buffer[] = [];
  let stderr = "";
  child.stdout.on("data", (b: Buffer) => stdout.push(b));
  child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
  return { code: new Promise((r) => child.on("close", (c) => r(c))), stdout, stderr: () => stderr };
}

async function until(p: Proc, re: RegExp): Promise<void> {
  // Up to 30 s: starting node with tsx on a busy machine can take seconds.
  for (let i = 0; i < 600 && !re.test(p.stderr()); i++) await new Promise((r) => setTimeout(r, 50));
  assert.match(p.stderr(), re);
}

const filter = captureFilter(["198.18.0.1", "198.19.0.62"], ["198.18.0.2", "198.19.0.126"], ["198.19.0.1"], ["198.19.0.65"]);
const tcpdumpArgs = ["-s", "INT", "20", "tcpdump", "-i", "eth0", "-p", "-Q", "out", "-U", "-n", "-s", "512", "-w", "-", filter];
const opts: ClassifyOptions = {
  mode: "ipsec",
  tunnelPorts: new Map<number, "vxlan" | "geneve">([[8472, "vxlan"]]),
  overlayMustBeEncrypted: false,
  hostTrafficMustBeEncrypted: false,
  podAddresses: ["198.19.0.1", "198.19.0.65"],
  podCidrs: NODES.map((n) => n.cidr),
  nodeAddresses: NODES.flatMap((n) => [n.ip, n.cip]),
  controlMarker: CONTROL_MARKER,
};

async function wireCheck(): Promise<{ a: ReturnType<typeof summarizeCapture>; b: ReturnType<typeof summarizeCapture>; codes: number[] }> {
  const caps = [run("capture-a", "timeout", tcpdumpArgs), run("capture-b", "timeout", tcpdumpArgs)];
  for (const c of caps) await until(c, /listening on eth0/);
  const codes: number[] = [];
  codes.push((await run("client", "wget", ["-q", "-O", "/dev/null", "-T", "5", ...Array(3).fill("http://198.19.0.65:8080/hostname")]).code) ?? -1);
  codes.push((await run("capture-a", "ping", ["-c", "3", "-i", "0.2", "-W", "2", "-p", CONTROL_MARKER.toString("hex"), "198.18.0.2"]).code) ?? -1);
  codes.push((await run("capture-b", "ping", ["-c", "3", "-i", "0.2", "-W", "2", "-p", CONTROL_MARKER.toString("hex"), "198.18.0.1"]).code) ?? -1);
  codes.push((await run("capture-a", "pkill", ["-INT", "-x", "tcpdump"]).code) ?? -1);
  codes.push((await run("capture-b", "pkill", ["-INT", "-x", "tcpdump"]).code) ?? -1);
  for (const c of caps) codes.push((await c.code) ?? -1);
  const [a, b] = caps.map((c) => summarizeCapture(new Uint8Array(Buffer.concat(c.stdout)), opts));
  return { a: a!, b: b!, codes };
}

describe("stand-ins in the simulated cluster", { timeout: 180_000 }, () => {
  it("IPsec on both ends (1.17, tunnel): ESP inside VXLAN and the control ping on each egress", async () => {
    encryption = "ipsec";
    const { a, b, codes } = await wireCheck();
    assert.deepEqual(codes, [0, 0, 0, 0, 0, 0, 0]);
    for (const s of [a, b]) {
      assert.equal(judgeCapture(s, "ipsec", true).verdict, "encrypted", JSON.stringify(s));
      // Its own three requests and its three answers to the peer's ping.
      assert.equal(s.control, 6);
      assert.deepEqual(s.espSpis, [3]);
    }
    assert.equal(a.esp, 15);
    assert.equal(b.esp, 15);
    // A capture asks for the facts and CiliumNodes of its pair's nodes, never a whole-cluster list.
    assert.ok(asked.includes("sim /state?nodes=node-a,node-b") || asked.includes("sim /state?nodes=node-b,node-a"), asked.join("\n"));
    assert.ok(!asked.some((q) => q === "sim /state" || q.startsWith("kapi /api/v1/nodes") || q === "kapi /apis/cilium.io/v2/ciliumnodes"), asked.join("\n"));
  });

  it("encryption off: plaintext pod traffic inside VXLAN, seen as a leak", async () => {
    encryption = "none";
    const { a, b } = await wireCheck();
    assert.equal(judgeCapture(a, "ipsec", true).verdict, "plaintext");
    assert.equal(judgeCapture(b, "ipsec", true).verdict, "plaintext");
  });

  it("tcpdump without NET_RAW, on another device or with a bad filter fails as tcpdump does", async () => {
    const noCap = run("capture-unprivileged", "tcpdump", ["-i", "eth0", "-w", "-", filter]);
    assert.equal(await noCap.code, 1);
    assert.match(noCap.stderr(), /You don't have permission to perform this capture/);
    const dev = run("capture-a", "tcpdump", ["-i", "eth9", "-w", "-"]);
    assert.equal(await dev.code, 1);
    assert.match(dev.stderr(), /eth9: No such device exists/);
    const bad = run("capture-a", "tcpdump", ["-i", "eth0", "-w", "-", "host", "nowhere"]);
    assert.equal(await bad.code, 1);
    assert.match(bad.stderr(), /can't parse filter expression/);
  });

  it("ip route get answers the egress device; pkill with no capture finds nothing", async () => {
    const r = run("capture-a", "ip", ["-j", "route", "get", "198.18.0.2"]);
    assert.equal(await r.code, 0);
    assert.deepEqual(JSON.parse(Buffer.concat(r.stdout).toString())[0], {
      dst: "198.18.0.2",
      dev: "eth0",
      prefsrc: "198.18.0.1",
      flags: [],
      uid: 0,
      cache: [],
    });
    assert.equal(await run("capture-b", "pkill", ["-INT", "-x", "tcpdump"]).code, 1);
  });

  it("nothing runs outside a simulated pod, and timeout runs only simulated commands", async () => {
    const bare = spawn(join(BIN, "ping"), ["-c", "1", "198.18.0.2"], {
      env: { ...process.env, SIM_STATE_DIR: "", SIM_POD_NAME: "" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    bare.stderr.on("data", (b: Buffer) => (err += b.toString()));
    assert.equal(await new Promise((r) => bare.on("close", r)), 3);
    assert.match(err, /SIM_STATE_DIR is not set/);
    const t = run("client", "timeout", ["5", "curl", "http://198.19.0.65/"]);
    assert.equal(await t.code, 127);
  });
});

describe("stand-in argument checks", () => {
  it("parses the verifier's tcpdump command line", () => {
    const a = parseTcpdump(["-i", "eth0", "-p", "-Q", "out", "-U", "-n", "-s", "512", "-w", "-", "(host", "1.2.3.4", "and", "host", "5.6.7.8)"]);
    assert.ok(!(a instanceof Error));
    assert.deepEqual(a, { device: "eth0", snaplen: 512, direction: "out", write: "-", filter: "(host 1.2.3.4 and host 5.6.7.8)" });
    assert.ok(parseTcpdump(["-i", "eth0", "-w", "file.pcap"]) instanceof Error);
    assert.ok(parseTcpdump(["-i", "eth0", "-G", "5", "-w", "-"]) instanceof Error);
  });

  it("knows which containers can open a packet socket", () => {
    const pod = (sc?: Record<string, unknown>, podSc?: Record<string, unknown>) => ({
      metadata: { name: "p", namespace: "n" },
      spec: { containers: [{ name: "c", ...(sc ? { securityContext: sc } : {}) }], ...(podSc ? { securityContext: podSc } : {}) },
    });
    assert.equal(hasNetRaw(pod()), true);
    assert.equal(hasNetRaw(pod(CAPTURE_SECURITY)), true);
    assert.equal(hasNetRaw(pod({ capabilities: { drop: ["ALL"] } })), false);
    assert.equal(hasNetRaw(pod({ capabilities: { drop: ["NET_RAW"] } })), false);
    assert.equal(hasNetRaw(pod({ capabilities: { add: ["NET_RAW"] } }, { runAsUser: 1000 })), false);
    assert.equal(hasNetRaw(pod({ privileged: true, capabilities: { drop: ["ALL"] } })), true);
  });
});
