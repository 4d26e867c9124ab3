import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
// The verifier's own decoder reads what the simulator writes: the two were written separately.
import { type ClassifyOptions, judgeCapture, summarizeCapture } from "../../../verifier/classify";
import { CONTROL_MARKER, captureFilter } from "../../../verifier/wire";
import { esp, ipPacket, parseAddr, pcapFile, pcapHeader, tcp, udp, wireguardData } from "../../sim/datapath/bytes";
import { compileFilter, FilterSyntaxError, type OuterHeader } from "../../sim/datapath/filter";
import { capture, type Flow, flowCompletes, minEncryptKey, type PodPath, protection, type SimNode, type SimState, wireFrames } from "../../sim/datapath/model";

const A4 = "198.18.0.1";
const B4 = "198.18.0.2";
const A6 = "2001:db8::1";
const B6 = "2001:db8::2";
const POD_A4 = "198.19.0.1";
const POD_B4 = "198.19.0.65";
const POD_A6 = "2001:db8:1::1";
const POD_B6 = "2001:db8:1:1::1";
const CIP_A4 = "198.19.0.62";
const CIP_B4 = "198.19.0.126";
const CIP_A6 = "2001:db8:1::ffff";
const CIP_B6 = "2001:db8:1:1::ffff";

// A node plus the encryption its agent runs (the paths between two nodes follow from both).
type TestNode = Partial<SimNode> & { mode?: "ipsec" | "wireguard" | "none"; delivers?: boolean };

function node(name: "a" | "b", over: TestNode = {}, dual = false): SimNode {
  const a = name === "a";
  const { mode: _m, delivers: _d, ...rest } = over;
  return {
    name,
    internalIPs: dual ? [a ? A4 : B4, a ? A6 : B6] : [a ? A4 : B4],
    ciliumInternalIPs: dual ? [a ? CIP_A4 : CIP_B4, a ? CIP_A6 : CIP_B6] : [a ? CIP_A4 : CIP_B4],
    podCIDRs: dual ? [a ? "198.19.0.0/26" : "198.19.0.64/26", a ? "2001:db8:1::/64" : "2001:db8:1:1::/64"] : [a ? "198.19.0.0/26" : "198.19.0.64/26"],
    ipsecSpi: 3,
    nodeEncryption: false,
    ...rest,
  };
}

// As the agent simulator reports them: encrypted when both ends run the same mode.
function paths(a: TestNode, b: TestNode): PodPath[] {
  const mode = (n: TestNode) => n.mode ?? "ipsec";
  const path = (from: string, x: TestNode, to: string, y: TestNode): PodPath => ({
    from,
    to,
    encryption: mode(x) === mode(y) ? mode(x) : "none",
    ...(mode(x) === "ipsec" ? { spi: x.ipsecSpi ?? 3 } : {}),
    delivered: y.delivers ?? true,
  });
  return [path("a", a, "b", b), path("b", b, "a", a)];
}

function state(over: Partial<SimState> = {}, a: TestNode = {}, b: TestNode = {}, dual = false): SimState {
  return {
    ciliumVersion: "1.18.11",
    routingMode: "tunnel",
    tunnelProtocol: "vxlan",
    tunnelPort: 8472,
    ipsecCipher: "gcm-128",
    nodes: [node("a", a, dual), node("b", b, dual)],
    paths: paths(a, b),
    ...over,
  };
}

const REQUEST = "GET /hostname HTTP/1.1\r\nHost: x\r\nUser-Agent: Wget\r\nConnection: close\r\n\r\n";
const http = (src = POD_A4, dst = POD_B4, at = 1000): Flow => ({
  kind: "http",
  at,
  src,
  dst,
  sport: 40123,
  dport: 8080,
  request: REQUEST,
  response: "HTTP/1.1 200 OK\r\n\r\nnode-b\n",
});
const ping = (src = A4, dst = B4, at = 2000): Flow => ({
  kind: "ping",
  at,
  src,
  dst,
  id: 7,
  count: 3,
  intervalMs: 200,
  pattern: CONTROL_MARKER.toString("hex"),
});

const all = compileFilter("");
const egress = (s: SimState, flows: Flow[], nodeName = "a", direction: "in" | "out" | "inout" = "out") =>
  capture(s, flows, { node: nodeName, direction, filter: all, fromMs: 0, toMs: 1e12 }).map((r) => r.frame);

function outer(frame: Uint8Array): { proto: number; src: string; dst: string; l4: number } {
  const v = frame[14]! >> 4;
  const fmt = (b: Uint8Array) => (b.length === 4 ? Array.from(b).join(".") : Buffer.from(b).toString("hex"));
  return v === 4
    ? { proto: frame[23]!, src: fmt(frame.subarray(26, 30)), dst: fmt(frame.subarray(30, 34)), l4: 34 }
    : { proto: frame[20]!, src: fmt(frame.subarray(22, 38)), dst: fmt(frame.subarray(38, 54)), l4: 54 };
}
const hex6 = (a: string) => Buffer.from(parseAddr(a)).toString("hex");
const contains = (frame: Uint8Array, text: string | Uint8Array) =>
  Buffer.from(frame).indexOf(typeof text === "string" ? Buffer.from(text) : Buffer.from(text)) >= 0;

describe("simulated wire formats", () => {
  it("IPv4 header checksums verify, TCP and UDP carry their payloads", () => {
    const p = tcp({ src: POD_A4, dst: POD_B4 }, { sport: 1, dport: 2, seq: 1, ack: 0, flags: 2, payload: Uint8Array.of(9) });
    let sum = 0;
    for (let i = 0; i < 20; i += 2) sum += (p[i]! << 8) | p[i + 1]!;
    while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
    assert.equal(sum, 0xffff);
    assert.equal(p.length, 20 + 20 + 1);
    const u = udp({ src: A6, dst: B6 }, 5, 6, Uint8Array.of(1, 2, 3));
    assert.equal((u[4]! << 8) | u[5]!, 11);
    assert.equal(u[6], 17);
  });

  it("ESP and WireGuard sizes follow the cipher and the 16-byte padding", () => {
    const inner = ipPacket({ src: POD_A4, dst: POD_B4 }, 6, new Uint8Array(30));
    // GCM: 8 SPI/seq + 8 IV + pad4(50 + 2) + 16 ICV
    assert.equal(esp({ src: CIP_A4, dst: CIP_B4 }, 3, 1, inner).length, 20 + 8 + 8 + 52 + 16);
    // CBC/HMAC-SHA256: 16 IV, pad16(52) = 64, 16 ICV
    assert.equal(esp({ src: CIP_A4, dst: CIP_B4 }, 3, 1, inner, "cbc-hmac-sha256").length, 20 + 8 + 16 + 64 + 16);
    const wg = wireguardData({ src: A4, dst: B4 }, 1, 1, inner);
    assert.equal(wg.length - 28, 16 + 64 + 16);
    assert.equal(wg[28], 4);
  });

  it("writes a classic little-endian microsecond pcap with the snap length applied", () => {
    assert.deepEqual(Array.from(pcapHeader(512).subarray(0, 4)), [0xd4, 0xc3, 0xb2, 0xa1]);
    const f = pcapFile([{ timeMs: 1500.25, frame: new Uint8Array(600) }], 512);
    const dv = new DataView(f.buffer);
    assert.equal(dv.getUint32(24, true), 1);
    assert.equal(dv.getUint32(28, true), 500250);
    assert.equal(dv.getUint32(32, true), 512);
    assert.equal(dv.getUint32(36, true), 600);
    assert.equal(f.length, 24 + 16 + 512);
  });
});

describe("simulated tcpdump filter", () => {
  const h = (src: string, dst: string, proto = 6, sport: number | null = 1, dport: number | null = 2): OuterHeader => ({
    family: src.includes(":") ? 6 : 4,
    src,
    dst,
    proto,
    sport,
    dport,
  });

  it("evaluates the verifier's own filter, addresses compared as addresses", () => {
    const f = compileFilter(captureFilter([A4, "2001:DB8:0::1"], [B4, B6], [POD_A4], [POD_B4]));
    assert.ok(f(h(A4, B4)));
    assert.ok(f(h(B6, A6)));
    assert.ok(f(h(POD_B4, POD_A4)));
    assert.ok(!f(h(A4, POD_B4)));
    assert.ok(!f(h(CIP_A4, CIP_B4, 50)));
  });

  it("knows src/dst, net, port, protocols and negation", () => {
    assert.ok(compileFilter(`src host ${A4} and dst port 8080`)(h(A4, B4, 6, 1, 8080)));
    assert.ok(!compileFilter(`src host ${A4} and dst port 8080`)(h(B4, A4, 6, 1, 8080)));
    assert.ok(compileFilter("net 198.19.0.0/16 and not icmp")(h(POD_A4, B4)));
    assert.ok(!compileFilter("udp port 51871")(h(A4, B4, 6, 51871, 51871)));
    assert.ok(compileFilter("ip proto 50 || ip6")(h(A4, B4, 50, null, null)));
  });

  it("refuses what it does not implement instead of matching differently", () => {
    for (const bad of ["host", "host a.b", "(host 1.2.3.4", "host 1.2.3.4 or", "vlan", "udp[8:4] = 0", "src foo 1.2.3.4"]) {
      assert.throws(() => compileFilter(bad), FilterSyntaxError, bad);
    }
  });
});

describe("simulated datapath per version and mode", () => {
  it("1.18+ IPsec tunnel: ESP between the node InternalIPs, VXLAN inside it, nothing in clear", () => {
    for (const version of ["1.18.11", "1.19.7", "1.20.2"]) {
      const frames = egress(state({ ciliumVersion: version }), [http()]);
      assert.equal(frames.length, 5);
      for (const f of frames) {
        assert.deepEqual([outer(f).proto, outer(f).src, outer(f).dst], [50, A4, B4]);
        assert.equal((f[34]! << 24) | (f[35]! << 16) | (f[36]! << 8) | f[37]!, 3);
        assert.ok(!contains(f, "GET /hostname"));
      }
    }
  });

  it("before 1.18 IPsec tunnel: VXLAN 8472 between the nodes carrying ESP between the CiliumInternalIPs", () => {
    for (const version of ["1.16.19", "1.17.16"]) {
      const frames = egress(state({ ciliumVersion: version }), [http()]);
      assert.equal(frames.length, 5);
      for (const f of frames) {
        assert.deepEqual([outer(f).proto, outer(f).src, outer(f).dst], [17, A4, B4]);
        assert.equal((f[36]! << 8) | f[37]!, 8472);
        const inner = f.subarray(34 + 8 + 8 + 14);
        assert.deepEqual([inner[9], Array.from(inner.subarray(12, 16)).join("."), Array.from(inner.subarray(16, 20)).join(".")], [50, CIP_A4, CIP_B4]);
        assert.ok(!contains(f, "GET /hostname"));
      }
    }
  });

  it("IPsec native routing: ESP between the CiliumInternalIPs of the packet's family", () => {
    const s = state({ routingMode: "native" }, {}, {}, true);
    const v4 = egress(s, [http()]);
    assert.ok(v4.every((f) => outer(f).proto === 50 && outer(f).src === CIP_A4 && outer(f).dst === CIP_B4));
    const v6 = egress(s, [http(POD_A6, POD_B6)]);
    assert.ok(v6.length === 5 && v6.every((f) => outer(f).proto === 50 && outer(f).src === hex6(CIP_A6) && outer(f).dst === hex6(CIP_B6)));
  });

  it("WireGuard: UDP 51871 between the IPv4 InternalIPs, also for IPv6 pods and for the overlay", () => {
    for (const routingMode of ["tunnel", "native"] as const) {
      const s = state({ routingMode }, { mode: "wireguard" }, { mode: "wireguard" }, true);
      for (const flow of [http(), http(POD_A6, POD_B6)]) {
        const frames = egress(s, [flow]);
        assert.equal(frames.length, 5);
        for (const f of frames) {
          assert.deepEqual([outer(f).proto, outer(f).src, outer(f).dst], [17, A4, B4]);
          assert.deepEqual([(f[34]! << 8) | f[35]!, (f[36]! << 8) | f[37]!, f[42]], [51871, 51871, 4]);
          assert.equal((f.length - 42 - 16 - 16) % 16, 0);
        }
      }
    }
  });

  it("encryption off at either end: the pod packet in clear, inside VXLAN in tunnel mode", () => {
    for (const [a, b] of [
      [{ mode: "none" as const }, {}],
      [{}, { ipsecSpi: 0 }],
      [{ mode: "wireguard" as const }, {}],
    ]) {
      const native = egress(state({ routingMode: "native" }, a, b), [http()]);
      assert.ok(native.some((f) => contains(f, "GET /hostname") && outer(f).src === POD_A4 && outer(f).proto === 6));
      const tunnel = egress(state({}, a, b), [http()]);
      assert.ok(tunnel.some((f) => contains(f, "GET /hostname") && outer(f).proto === 17 && ((f[36]! << 8) | f[37]!) === 8472));
    }
  });

  it("Geneve uses its port and Ethernet payload type", () => {
    const f = egress(state({ tunnelProtocol: "geneve", tunnelPort: 6081 }, { mode: "none" }), [http()])[0]!;
    assert.equal((f[36]! << 8) | f[37]!, 6081);
    assert.equal((f[44]! << 8) | f[45]!, 0x6558);
  });

  it("the marked ping between nodes is plaintext, except with WireGuard node encryption on both ends", () => {
    const marker = Buffer.concat([CONTROL_MARKER, CONTROL_MARKER]);
    assert.equal(egress(state(), [ping()]).filter((f) => outer(f).proto === 1 && contains(f, marker)).length, 3);
    const wg = (a: boolean, b: boolean) => state({}, { mode: "wireguard", nodeEncryption: a }, { mode: "wireguard", nodeEncryption: b });
    assert.ok(egress(wg(true, true), [ping()]).every((f) => outer(f).proto === 17 && !contains(f, CONTROL_MARKER)));
    assert.ok(egress(wg(true, false), [ping()]).every((f) => outer(f).proto === 1 && contains(f, marker)));
    // Replies leave the peer: on node b's egress.
    assert.equal(egress(state(), [ping()], "b").filter((f) => f[34] === 0).length, 3);
  });

  it("IPsec decryption shows the plaintext again on the receiving NIC, inbound only", () => {
    const s = state({ routingMode: "native" });
    assert.ok(egress(s, [http()], "b", "in").some((f) => contains(f, "GET /hostname")));
    assert.ok(!egress(s, [http()], "b", "out").some((f) => contains(f, "GET /hostname")));
  });

  it("traffic within a node never reaches the NIC; the capture window bounds what is seen", () => {
    assert.equal(egress(state(), [http(POD_A4, "198.19.0.2")]).length, 0);
    const win = capture(state(), [http(POD_A4, POD_B4, 1000), http(POD_A4, POD_B4, 9000)], {
      node: "a",
      direction: "out",
      filter: all,
      fromMs: 5000,
      toMs: 10000,
    });
    assert.ok(win.length === 5 && win.every((r) => r.timeMs >= 9000));
  });

  it("the IPsec SPI is the smaller key of the two ends, with the wrap at 15", () => {
    assert.equal(minEncryptKey(3, 4), 3);
    assert.equal(minEncryptKey(15, 1), 15);
    assert.equal(minEncryptKey(1, 15), 15);
    assert.equal(minEncryptKey(0, 4), 0);
    const s = state({}, { ipsecSpi: 4 }, { ipsecSpi: 3 });
    assert.deepEqual(protection(s, s.nodes[0]!, s.nodes[1]!, false), { kind: "ipsec", spi: 3, delivered: true });
    assert.deepEqual(protection(s, s.nodes[0]!, s.nodes[1]!, true), { kind: "plaintext", delivered: true });
  });

  it("a receiver without the state to decrypt drops: only the first packet leaves, the flow fails", () => {
    const s = state({ routingMode: "native" }, {}, { delivers: false });
    const frames = egress(s, [http()]);
    assert.equal(frames.length, 1);
    assert.equal(outer(frames[0]!).proto, 50);
    assert.equal(flowCompletes(s, http()), false);
    assert.equal(flowCompletes(state(), http()), true);
    // An answer the client cannot take: SYN out, SYN-ACK back, nothing more.
    const back = state({ routingMode: "native" }, { delivers: false }, {});
    assert.equal(egress(back, [http()]).length + egress(back, [http()], "b").length, 2);
    assert.equal(flowCompletes(back, http()), false);
  });

  it("refuses to guess an address the live state does not have", () => {
    assert.throws(() => egress(state({ routingMode: "native" }, { ciliumInternalIPs: [] }), [http()]), /no IPv4 CiliumInternalIP on node a/);
  });
});

// The verifier's classifier judges the simulator's captures: encrypted exactly when both ends
// encrypt, plaintext otherwise, whatever the version, mode, routing and families.
describe("verifier classifier on simulated captures", () => {
  const arb = fc.record({
    version: fc.constantFrom("1.16.19", "1.17.16", "1.18.11", "1.19.7", "1.20.2"),
    mode: fc.constantFrom("ipsec" as const, "wireguard" as const),
    routingMode: fc.constantFrom("tunnel" as const, "native" as const),
    tunnel: fc.constantFrom(["vxlan", 8472] as const, ["geneve", 6081] as const),
    dual: fc.boolean(),
    offAt: fc.constantFrom("none", "a", "b"),
    spiA: fc.integer({ min: 1, max: 15 }),
    spiB: fc.integer({ min: 1, max: 15 }),
  });

  it("holds for every combination", () => {
    fc.assert(
      fc.property(arb, (c) => {
        const on = c.mode;
        const s = state(
          { ciliumVersion: c.version, routingMode: c.routingMode, tunnelProtocol: c.tunnel[0], tunnelPort: c.tunnel[1] },
          { mode: c.offAt === "a" ? "none" : on, ipsecSpi: c.spiA },
          { mode: c.offAt === "b" ? "none" : on, ipsecSpi: c.spiB },
          c.dual,
        );
        const flows = [http(), ...(c.dual ? [http(POD_A6, POD_B6, 1500)] : []), ping()];
        const nodes = (n: SimNode) => [...n.internalIPs, ...n.ciliumInternalIPs];
        const pods = c.dual ? [POD_A4, POD_A6] : [POD_A4];
        const podsB = c.dual ? [POD_B4, POD_B6] : [POD_B4];
        const filter = compileFilter(captureFilter(nodes(s.nodes[0]!), nodes(s.nodes[1]!), pods, podsB));
        const opts: ClassifyOptions = {
          mode: c.mode,
          tunnelPorts: new Map<number, "vxlan" | "geneve">([
            [8472, "vxlan"],
            [6081, "geneve"],
          ]),
          overlayMustBeEncrypted: c.mode === "wireguard" || Number(c.version.split(".")[1]) >= 18,
          hostTrafficMustBeEncrypted: false,
          podAddresses: [...pods, ...podsB],
          podCidrs: s.nodes.flatMap((n) => n.podCIDRs),
          nodeAddresses: [...nodes(s.nodes[0]!), ...nodes(s.nodes[1]!)],
          controlMarker: CONTROL_MARKER,
        };
        for (const side of ["a", "b"]) {
          const records = capture(s, flows, { node: side, direction: "out", filter, fromMs: 0, toMs: 1e12 });
          const judged = judgeCapture(summarizeCapture(pcapFile(records, 512), opts), c.mode, true);
          assert.equal(judged.verdict, c.offAt === "none" ? "encrypted" : "plaintext", `${side}: ${JSON.stringify(c)} ${judged.reasons.join("; ")}`);
        }
      }),
      { numRuns: 150 },
    );
  });
});

describe("wire frames bookkeeping", () => {
  it("every egress frame is also seen arriving at the peer", () => {
    const frames = wireFrames(state({ routingMode: "native" }, { mode: "wireguard" }, { mode: "wireguard" }), [http(), ping()]);
    const out = frames.filter((f) => f.direction === "out");
    const inn = frames.filter((f) => f.direction === "in");
    assert.equal(out.length, inn.length);
    assert.ok(out.every((o) => inn.some((i) => i.frame === o.frame && i.node !== o.node)));
  });
});
