import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { Classifier, type ClassifyOptions, judgeCapture, summarizeCapture } from "../../../verifier/classify";
import { PcapFormatError, readCapture } from "../../../verifier/pcap";
import {
  concat,
  esp,
  ethernet,
  fill,
  geneve,
  icmpEcho,
  ipv4,
  ipv6,
  pcap,
  pcapng,
  sll,
  sll2,
  tcp,
  udp,
  vxlan,
  wgCookie,
  wgData,
  wgHandshakeInit,
  wgHandshakeResponse,
} from "./packets";

const NODE_A = "192.0.2.11";
const NODE_B = "192.0.2.12";
const POD_A = "10.0.1.15";
const POD_B = "10.0.2.27";
const NODE6_A = "fd00::11";
const NODE6_B = "fd00::12";
const POD6_A = "fd10:0:1::15";
const POD6_B = "fd10:0:2::27";
const MARKER = Buffer.from("cilium-enc-probe");

function options(over: Partial<ClassifyOptions> = {}): ClassifyOptions {
  return {
    mode: "ipsec",
    tunnelPorts: new Map<number, "vxlan" | "geneve">([
      [8472, "vxlan"],
      [6081, "geneve"],
    ]),
    overlayMustBeEncrypted: true,
    hostTrafficMustBeEncrypted: false,
    podAddresses: [POD_A, POD_B, POD6_A, POD6_B],
    podCidrs: [],
    nodeAddresses: [NODE_A, NODE_B, NODE6_A, NODE6_B],
    controlMarker: MARKER,
    ...over,
  };
}

const innerPlain = (): Uint8Array => ethernet(ipv4(POD_A, POD_B, 6, tcp(40000, 8080)));
const innerPlain6 = (): Uint8Array => ethernet(ipv6(POD6_A, POD6_B, 6, tcp(40000, 8080)), 0x86dd);
const control = (): Uint8Array => ethernet(ipv4(NODE_A, NODE_B, 1, icmpEcho(concat(fill(0, 16), MARKER, MARKER))));
const espFrame = (spi = 3, seq = 8): Uint8Array => ethernet(ipv4(NODE_A, NODE_B, 50, esp(spi, seq)));
const wgFrame = (msg: Uint8Array): Uint8Array => ethernet(ipv4(NODE_A, NODE_B, 17, udp(51871, 51871, msg)));

function kindOf(frame: Uint8Array, opts = options(), linktype = 1): string {
  const cap = readCapture(pcap([frame], linktype));
  return new Classifier(opts).classifyFrame(cap.frames[0]!).kind;
}

describe("frame classification", () => {
  it("plaintext pod-to-pod in native routing is a leak, IPv4 and IPv6", () => {
    assert.equal(kindOf(innerPlain()), "leak");
    assert.equal(kindOf(innerPlain6()), "leak");
  });

  it("plaintext pod-to-pod inside VXLAN 8472 and Geneve 6081 is a leak", () => {
    assert.equal(kindOf(ethernet(ipv4(NODE_A, NODE_B, 17, udp(40000, 8472, vxlan(4242, innerPlain()))))), "leak");
    assert.equal(kindOf(ethernet(ipv4(NODE_A, NODE_B, 17, udp(40000, 6081, geneve(innerPlain()))))), "leak");
    assert.equal(kindOf(ethernet(ipv4(NODE_A, NODE_B, 17, udp(40000, 8472, vxlan(4242, innerPlain6()))))), "leak");
  });

  it("Geneve with options and Geneve carrying IP directly are decapsulated", () => {
    assert.equal(kindOf(ethernet(ipv4(NODE_A, NODE_B, 17, udp(40000, 6081, geneve(innerPlain(), { optionWords: 3 }))))), "leak");
    assert.equal(kindOf(ethernet(ipv4(NODE_A, NODE_B, 17, udp(40000, 6081, geneve(ipv4(POD_A, POD_B, 6, tcp(1, 2)), { protocol: 0x0800 }))))), "leak");
  });

  it("VXLAN over an IPv6 underlay is decapsulated", () => {
    assert.equal(kindOf(ethernet(ipv6(NODE6_A, NODE6_B, 17, udp(40000, 8472, vxlan(7, innerPlain()))), 0x86dd)), "leak");
  });

  it("a configured tunnel port is honoured", () => {
    const opts = options({ tunnelPorts: new Map([[9999, "vxlan" as const]]) });
    assert.equal(kindOf(ethernet(ipv4(NODE_A, NODE_B, 17, udp(40000, 9999, vxlan(1, innerPlain())))), opts), "leak");
  });

  it("ESP between nodes is encrypted, with the SPI read", () => {
    const cap = readCapture(pcap([espFrame(0x03000005, 9)]));
    const r = new Classifier(options()).classifyFrame(cap.frames[0]!);
    assert.equal(r.kind, "esp");
    assert.equal(r.spi, 0x03000005);
  });

  it("ESP over IPv6 and IPv4 ESP fragments count as encrypted", () => {
    assert.equal(kindOf(ethernet(ipv6(NODE6_A, NODE6_B, 50, esp(3, 1)), 0x86dd)), "esp");
    assert.equal(kindOf(ethernet(ipv4(NODE_A, NODE_B, 50, fill(0xa5, 40), { fragOffset: 0x00b9 }))), "esp");
  });

  it("VXLAN inside ESP (>= 1.18) shows only ESP on the wire", () => {
    // The whole VXLAN packet is the encrypted payload: nothing of it is visible.
    assert.equal(kindOf(espFrame()), "esp");
  });

  it('ESP inside VXLAN (< 1.18 "EinV") is encrypted', () => {
    const einv = ethernet(ipv4(NODE_A, NODE_B, 17, udp(40000, 8472, vxlan(2, ethernet(ipv4(POD_A, POD_B, 50, esp(3, 5)))))));
    assert.equal(kindOf(einv, options({ overlayMustBeEncrypted: false })), "esp");
  });

  it("plaintext overlay host traffic is a leak only where the overlay must be encrypted", () => {
    const hostInOverlay = ethernet(ipv4(NODE_A, NODE_B, 17, udp(40000, 8472, vxlan(1, ethernet(ipv4("10.0.1.1", "198.51.100.9", 6, tcp(1, 2)))))));
    assert.equal(kindOf(hostInOverlay, options({ overlayMustBeEncrypted: true })), "leak");
    assert.equal(kindOf(hostInOverlay, options({ overlayMustBeEncrypted: false })), "tunnel-plaintext");
  });

  it("WireGuard handshake initiation, response, cookie and data are recognised", () => {
    assert.equal(kindOf(wgFrame(wgHandshakeInit())), "wireguard-handshake");
    assert.equal(kindOf(wgFrame(wgHandshakeResponse())), "wireguard-handshake");
    assert.equal(kindOf(wgFrame(wgCookie())), "wireguard-handshake");
    assert.equal(kindOf(wgFrame(wgData(0))), "wireguard-data"); // keepalive, 32 bytes
    assert.equal(kindOf(wgFrame(wgData(1400))), "wireguard-data");
  });

  it("something that is not WireGuard on port 51871 is not taken as encrypted", () => {
    const plain = ethernet(ipv4(POD_A, POD_B, 17, udp(51871, 51871, new TextEncoder().encode("hello, plaintext"))));
    assert.equal(kindOf(plain), "leak");
    const wrongSize = wgFrame(concat(Uint8Array.of(1, 0, 0, 0), fill(1, 100)));
    assert.equal(kindOf(wrongSize), "host-plaintext");
    assert.notEqual(kindOf(wgFrame(concat(Uint8Array.of(4, 0, 0, 0), fill(0, 33)))), "wireguard-data");
  });

  it("the control ping is recognised by its marker; other node traffic is host traffic", () => {
    assert.equal(kindOf(control()), "control");
    assert.equal(kindOf(ethernet(ipv4(NODE_A, NODE_B, 1, icmpEcho(fill(0, 48))))), "host-plaintext");
    assert.equal(kindOf(ethernet(ipv4(NODE_A, NODE_B, 6, tcp(10250, 50000)))), "host-plaintext");
  });

  it("with node encryption, plaintext node-to-node traffic is a leak but neighbour discovery is not", () => {
    const opts = options({ mode: "wireguard", hostTrafficMustBeEncrypted: true, controlMarker: null });
    assert.equal(kindOf(ethernet(ipv4(NODE_A, NODE_B, 6, tcp(10250, 50000))), opts), "leak");
    const na = ethernet(ipv6(NODE6_A, NODE6_B, 58, concat(Uint8Array.of(136, 0), fill(0, 22))), 0x86dd);
    assert.equal(kindOf(na, opts), "host-plaintext");
  });

  it("pod CIDRs catch pod addresses that are not the test pods", () => {
    const opts = options({ podAddresses: [], podCidrs: ["10.0.0.0/16"] });
    assert.equal(kindOf(innerPlain(), opts), "leak");
    assert.equal(kindOf(ethernet(ipv4("10.1.0.1", POD_B, 6, tcp(1, 2))), opts), "other");
  });

  it("CiliumInternalIPs inside the pod CIDRs are node addresses: plaintext between them is host traffic", () => {
    const cips = ["10.0.1.1", "10.0.2.1"];
    const opts = options({ podAddresses: [], podCidrs: ["10.0.0.0/16"], nodeAddresses: [NODE_A, NODE_B, ...cips] });
    const hostFrame = ethernet(ipv4(cips[0]!, cips[1]!, 6, tcp(4240, 4240)));
    assert.equal(kindOf(hostFrame, opts), "host-plaintext");
    assert.equal(kindOf(hostFrame, { ...opts, hostTrafficMustBeEncrypted: true }), "leak");
    assert.equal(kindOf(ethernet(ipv4(cips[0]!, POD_B, 6, tcp(1, 2))), opts), "other");
    assert.equal(kindOf(innerPlain(), opts), "leak");
  });

  it("VLAN tags are skipped; ARP is not IP", () => {
    assert.equal(kindOf(ethernet(ipv4(POD_A, POD_B, 6, tcp(1, 2)), 0x0800, 100)), "leak");
    assert.equal(kindOf(ethernet(fill(0, 28), 0x0806)), "non-ip");
  });

  it("raw IP, Linux cooked v1 and v2 link types decode; cooked inbound packets are not asserted on", () => {
    assert.equal(kindOf(ipv4(POD_A, POD_B, 6, tcp(1, 2)), options(), 101), "leak");
    assert.equal(kindOf(sll(ipv4(NODE_A, NODE_B, 50, esp(3, 1)), true), options(), 113), "esp");
    assert.equal(kindOf(sll(ipv4(POD_A, POD_B, 6, tcp(1, 2)), false), options(), 113), "inbound");
    assert.equal(kindOf(sll2(ipv4(POD_A, POD_B, 6, tcp(1, 2)), true), options(), 276), "leak");
  });

  it("pcapng direction flags: a decrypted packet re-injected inbound is not a leak", () => {
    const bytes = pcapng([
      { data: espFrame(), direction: "in" },
      { data: innerPlain(), direction: "in" },
      { data: innerPlain(), direction: "out" },
    ]);
    const s = summarizeCapture(bytes, options());
    assert.equal(s.inbound, 2);
    assert.equal(s.leaks, 1);
  });
});

describe("truncated and malformed input", () => {
  it("frames cut inside a header we need are malformed with a reason, never encrypted", () => {
    const cases: Array<[string, Uint8Array]> = [
      ["Ethernet", espFrame().subarray(0, 10)],
      ["IPv4 header", espFrame().subarray(0, 20)],
      ["ESP header", espFrame().subarray(0, 14 + 20 + 5)],
      ["UDP header", wgFrame(wgData(10)).subarray(0, 14 + 20 + 4)],
      ["WireGuard header", wgFrame(wgData(10)).subarray(0, 14 + 20 + 8 + 2)],
      ["VXLAN header", ethernet(ipv4(NODE_A, NODE_B, 17, udp(1, 8472, vxlan(1, innerPlain())))).subarray(0, 14 + 20 + 8 + 4)],
      ["IPv6 header", ethernet(ipv6(NODE6_A, NODE6_B, 50, esp(3, 1)), 0x86dd).subarray(0, 14 + 30)],
    ];
    for (const [what, frame] of cases) {
      const cap = readCapture(pcap([frame]));
      const r = new Classifier(options()).classifyFrame(cap.frames[0]!);
      assert.equal(r.kind, "malformed", what);
      assert.match(r.detail, new RegExp(what.split(" ")[0]!), what);
    }
  });

  it("bad header fields are malformed: IP version, IHL, UDP length, VXLAN flags, Geneve version, link type", () => {
    const bad: Uint8Array[] = [
      ethernet(concat(Uint8Array.of(0x55), fill(0, 40))),
      ethernet(concat(Uint8Array.of(0x44), fill(0, 40))),
      ethernet(ipv4(NODE_A, NODE_B, 17, concat(udp(1, 2, fill(0, 4)).subarray(0, 4), be(200), fill(0, 6)))),
      ethernet(ipv4(NODE_A, NODE_B, 17, udp(1, 8472, vxlan(1, innerPlain(), 0x00)))),
      ethernet(ipv4(NODE_A, NODE_B, 17, udp(1, 6081, concat(Uint8Array.of(0x80), fill(0, 40))))),
    ];
    for (const f of bad) assert.equal(kindOf(f), "malformed");
    assert.equal(kindOf(espFrame(), options(), 147), "malformed");
  });

  it("file-level damage: empty, short, bad magic are clear errors", () => {
    assert.throws(
      () => readCapture(new Uint8Array(0)),
      (e: unknown) => e instanceof PcapFormatError && /empty/.test(e.message),
    );
    assert.throws(() => readCapture(pcap([]).subarray(0, 12)), /global header truncated/);
    assert.throws(() => readCapture(new TextEncoder().encode("tcpdump: eth0: No such device exists\n")), /not a pcap or pcapng/);
  });

  it("a record cut short is reported as a problem and makes the capture inconclusive", () => {
    const full = pcap([espFrame(), control(), espFrame()]);
    const s = summarizeCapture(full.subarray(0, full.length - 7), options());
    assert.equal(s.problems.length, 1);
    assert.match(s.problems[0]!, /data truncated/);
    assert.equal(judgeCapture(s, "ipsec", true).verdict, "inconclusive");
  });

  it("big-endian and nanosecond pcap variants read the same frames", () => {
    for (const o of [{ bigEndian: true }, { nanos: true }, { bigEndian: true, nanos: true }]) {
      const s = summarizeCapture(pcap([espFrame(), control()], 1, o), options());
      assert.equal(s.esp, 1);
      assert.equal(s.control, 1);
    }
  });

  it("property: no byte sequence crashes the reader or classifier", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.constantFrom(1, 101, 113, 276), (data, lt) => {
        const cap = readCapture(pcap([data], lt));
        new Classifier(options()).classifyFrame(cap.frames[0]!);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          readCapture(bytes);
        } catch (e) {
          assert.ok(e instanceof PcapFormatError);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("property: any truncation of a plaintext frame is still a leak or malformed, never encrypted", () => {
    const leaks = [
      innerPlain(),
      innerPlain6(),
      ethernet(ipv4(NODE_A, NODE_B, 17, udp(40000, 8472, vxlan(9, innerPlain())))),
      ethernet(ipv4(NODE_A, NODE_B, 17, udp(40000, 6081, geneve(innerPlain6(), { optionWords: 2 })))),
    ];
    fc.assert(
      fc.property(fc.constantFrom(...leaks), fc.nat(), (frame, cut) => {
        const truncated = frame.subarray(0, cut % (frame.length + 1));
        const kind = kindOf(truncated);
        assert.ok(["leak", "malformed"].includes(kind), `${truncated.length} bytes gave ${kind}`);
      }),
      { numRuns: 400 },
    );
  });
});

function be(n: number): Uint8Array {
  return Uint8Array.of(n >> 8, n & 0xff);
}

describe("capture verdict", () => {
  it("encrypted: ESP seen, control seen, no leak", () => {
    const s = summarizeCapture(pcap([espFrame(3, 1), espFrame(3, 2), control(), ethernet(fill(0, 28), 0x0806)]), options());
    assert.deepEqual(judgeCapture(s, "ipsec", true), { verdict: "encrypted", reasons: [] });
    assert.deepEqual(s.espSpis, [3]);
  });

  it("plaintext: one leak among encrypted packets fails and names the packet", () => {
    const s = summarizeCapture(pcap([espFrame(), control(), innerPlain()]), options());
    const j = judgeCapture(s, "ipsec", true);
    assert.equal(j.verdict, "plaintext");
    assert.match(j.reasons[0]!, /frame 2: plaintext pod-to-pod TCP 10\.0\.1\.15 > 10\.0\.2\.27 ports 40000 > 8080/);
  });

  it("inconclusive without encrypted evidence, without the control, or with malformed frames", () => {
    const noEsp = judgeCapture(summarizeCapture(pcap([control()]), options()), "ipsec", true);
    assert.equal(noEsp.verdict, "inconclusive");
    assert.match(noEsp.reasons.join(" "), /no ESP packet/);
    const noControl = judgeCapture(summarizeCapture(pcap([espFrame()]), options()), "ipsec", true);
    assert.match(noControl.reasons.join(" "), /positive control not seen/);
    assert.equal(judgeCapture(summarizeCapture(pcap([espFrame()]), options()), "ipsec", false).verdict, "encrypted");
    const garbled = judgeCapture(summarizeCapture(pcap([espFrame(), control(), espFrame().subarray(0, 20)]), options()), "ipsec", true);
    assert.equal(garbled.verdict, "inconclusive");
    assert.match(garbled.reasons.join(" "), /could not be decoded/);
    const empty = judgeCapture(summarizeCapture(pcap([]), options()), "ipsec", true);
    assert.equal(empty.verdict, "inconclusive");
  });

  it("WireGuard needs transport data: handshakes alone are not proof", () => {
    const wg = options({ mode: "wireguard" });
    const onlyHandshake = summarizeCapture(pcap([wgFrame(wgHandshakeInit()), wgFrame(wgHandshakeResponse()), control()]), wg);
    assert.equal(judgeCapture(onlyHandshake, "wireguard", true).verdict, "inconclusive");
    const data = summarizeCapture(pcap([wgFrame(wgHandshakeInit()), wgFrame(wgData(100)), control()]), wg);
    assert.equal(judgeCapture(data, "wireguard", true).verdict, "encrypted");
  });

  it("ESP does not satisfy a WireGuard check, nor WireGuard an IPsec one", () => {
    assert.equal(judgeCapture(summarizeCapture(pcap([espFrame(), control()]), options()), "wireguard", true).verdict, "inconclusive");
    assert.equal(judgeCapture(summarizeCapture(pcap([wgFrame(wgData(10)), control()]), options()), "ipsec", true).verdict, "inconclusive");
  });
});
