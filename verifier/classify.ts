import { type Cidr, cidrContains, formatIp, parseCidr, parseIp } from "./ip";
import { type CapturedFrame, readCapture } from "./pcap";

// Classifies every frame of a capture taken on a node's egress NIC while our pods talked across
// nodes, then judges the capture. Decoding follows verification-facts §4: ESP first, then
// WireGuard, then VXLAN/Geneve decapsulation, then plain IP.

export const WIREGUARD_PORT = 51871;
export const LINKTYPE = { ETHERNET: 1, RAW: 101, LINUX_SLL: 113, LINUX_SLL2: 276 } as const;

export interface ClassifyOptions {
  mode: "ipsec" | "wireguard";
  // Port -> encapsulation. Cilium's VXLAN port is 8472 (kernel default), Geneve 6081, both configurable.
  tunnelPorts: ReadonlyMap<number, "vxlan" | "geneve">;
  // True when any plaintext overlay packet is a leak: WireGuard (VXLAN rides inside it) and
  // IPsec from 1.18 (the overlay is encrypted). Before 1.18 IPsec sat inside VXLAN.
  overlayMustBeEncrypted: boolean;
  // WireGuard node encryption: plaintext node-to-node traffic is then a leak too.
  hostTrafficMustBeEncrypted: boolean;
  podAddresses: readonly string[];
  podCidrs: readonly string[];
  nodeAddresses: readonly string[];
  controlMarker: Uint8Array | null;
}

export type FrameKind =
  | "esp"
  | "wireguard-data"
  | "wireguard-handshake"
  | "leak"
  | "tunnel-plaintext"
  | "control"
  | "host-plaintext"
  | "inbound"
  | "non-ip"
  | "other"
  | "malformed";

export interface FrameClass {
  kind: FrameKind;
  detail: string;
  spi?: number;
}

class Malformed extends Error {}

function need(data: Uint8Array, off: number, n: number, what: string): void {
  if (off < 0 || off + n > data.length) {
    throw new Malformed(`${what}: needs ${n} byte(s) at offset ${off}, frame has ${data.length}`);
  }
}

function u16(d: Uint8Array, o: number): number {
  return (d[o]! << 8) | d[o + 1]!;
}
function u32(d: Uint8Array, o: number): number {
  return ((d[o]! << 24) >>> 0) + ((d[o + 1]! << 16) | (d[o + 2]! << 8) | d[o + 3]!);
}

interface IpPacket {
  version: 4 | 6;
  src: Uint8Array;
  dst: Uint8Array;
  proto: number;
  // Offset of the transport header, or null for a non-first fragment.
  l4: number | null;
  // Bytes of transport header + payload according to the IP header (not the captured length).
  l4Len: number;
}

function parseIpPacket(d: Uint8Array, off: number): IpPacket {
  need(d, off, 1, "IP header");
  const version = d[off]! >> 4;
  if (version === 4) {
    need(d, off, 20, "IPv4 header");
    const ihl = (d[off]! & 0x0f) * 4;
    if (ihl < 20) throw new Malformed(`IPv4 header length ${ihl} < 20`);
    need(d, off, ihl, "IPv4 options");
    const total = u16(d, off + 2);
    if (total < ihl) throw new Malformed(`IPv4 total length ${total} < header length ${ihl}`);
    const fragOffset = u16(d, off + 6) & 0x1fff;
    return {
      version: 4,
      src: d.slice(off + 12, off + 16),
      dst: d.slice(off + 16, off + 20),
      proto: d[off + 9]!,
      l4: fragOffset === 0 ? off + ihl : null,
      l4Len: total - ihl,
    };
  }
  if (version === 6) {
    need(d, off, 40, "IPv6 header");
    const payloadLen = u16(d, off + 4);
    let next = d[off + 6]!;
    let p = off + 40;
    let remaining = payloadLen;
    let first = true;
    // Walk extension headers: hop-by-hop, routing, fragment, destination options.
    for (let guard = 0; guard < 8; guard++) {
      if (next === 0 || next === 43 || next === 60) {
        need(d, p, 2, "IPv6 extension header");
        const len = (d[p + 1]! + 1) * 8;
        next = d[p]!;
        p += len;
        remaining -= len;
      } else if (next === 44) {
        need(d, p, 8, "IPv6 fragment header");
        if ((u16(d, p + 2) & 0xfff8) !== 0) first = false;
        next = d[p]!;
        p += 8;
        remaining -= 8;
      } else {
        break;
      }
    }
    if (remaining < 0) throw new Malformed("IPv6 extension headers exceed the payload length");
    return { version: 6, src: d.slice(off + 8, off + 24), dst: d.slice(off + 24, off + 40), proto: next, l4: first ? p : null, l4Len: remaining };
  }
  throw new Malformed(`IP version ${version}`);
}

// Returns the offset of the IP header after the link layer, or null for a non-IP frame.
function linkPayload(f: CapturedFrame): { ipOff: number | null; ethertype: number; outgoing: boolean | null } {
  const d = f.data;
  switch (f.linktype) {
    case LINKTYPE.ETHERNET:
      return etherPayload(d, 0);
    case LINKTYPE.RAW: {
      need(d, 0, 1, "raw IP");
      const v = d[0]! >> 4;
      return { ipOff: v === 4 || v === 6 ? 0 : null, ethertype: v === 4 ? 0x0800 : v === 6 ? 0x86dd : 0, outgoing: null };
    }
    case LINKTYPE.LINUX_SLL: {
      need(d, 0, 16, "Linux cooked header");
      const proto = u16(d, 14);
      return { ipOff: proto === 0x0800 || proto === 0x86dd ? 16 : null, ethertype: proto, outgoing: u16(d, 0) === 4 };
    }
    case LINKTYPE.LINUX_SLL2: {
      need(d, 0, 20, "Linux cooked v2 header");
      const proto = u16(d, 0);
      return { ipOff: proto === 0x0800 || proto === 0x86dd ? 20 : null, ethertype: proto, outgoing: d[10] === 4 };
    }
    default:
      throw new Malformed(`unsupported link type ${f.linktype}`);
  }
}

function etherPayload(d: Uint8Array, off: number): { ipOff: number | null; ethertype: number; outgoing: null } {
  need(d, off, 14, "Ethernet header");
  let type = u16(d, off + 12);
  let p = off + 14;
  while (type === 0x8100 || type === 0x88a8) {
    need(d, p, 4, "VLAN tag");
    type = u16(d, p + 2);
    p += 4;
  }
  return { ipOff: type === 0x0800 || type === 0x86dd ? p : null, ethertype: type, outgoing: null };
}

function isWireguard(d: Uint8Array, off: number, udpPayloadLen: number): { ok: boolean; type: number; why: string } {
  need(d, off, 4, "WireGuard header");
  const type = d[off]!;
  if (d[off + 1] !== 0 || d[off + 2] !== 0 || d[off + 3] !== 0) return { ok: false, type, why: "reserved bytes not zero" };
  const fixed: Record<number, number> = { 1: 148, 2: 92, 3: 64 };
  if (fixed[type] !== undefined) {
    return udpPayloadLen === fixed[type]
      ? { ok: true, type, why: "" }
      : { ok: false, type, why: `type ${type} must be ${fixed[type]} bytes, is ${udpPayloadLen}` };
  }
  if (type === 4) {
    return udpPayloadLen >= 32 && udpPayloadLen % 16 === 0
      ? { ok: true, type, why: "" }
      : { ok: false, type, why: `transport data of ${udpPayloadLen} bytes (needs >= 32, multiple of 16)` };
  }
  return { ok: false, type, why: `message type ${type}` };
}

export class Classifier {
  private readonly pods: Set<string>;
  private readonly cidrs: Cidr[];
  private readonly nodes: Set<string>;

  constructor(private readonly opts: ClassifyOptions) {
    const canon = (list: readonly string[], what: string): Set<string> =>
      new Set(
        list.map((a) => {
          const b = parseIp(a);
          if (!b) throw new Error(`invalid ${what} address ${JSON.stringify(a)}`);
          return formatIp(b);
        }),
      );
    this.pods = canon(opts.podAddresses, "pod");
    this.nodes = canon(opts.nodeAddresses, "node");
    this.cidrs = opts.podCidrs.map((c) => {
      const p = parseCidr(c);
      if (!p) throw new Error(`invalid pod CIDR ${JSON.stringify(c)}`);
      return p;
    });
  }

  // A node's own addresses are not pods even inside a pod CIDR: the CiliumInternalIP (cilium_host)
  // comes from it, and traffic from or to it is host traffic, which IPsec never encrypts (as
  // Cilium's own leak detector, .github/actions/bpftrace/scripts/check-encryption-leaks.bt,
  // excludes the CiliumInternalIPs).
  private isPod(ip: Uint8Array): boolean {
    return this.pods.has(formatIp(ip)) || (!this.isNode(ip) && this.cidrs.some((c) => cidrContains(c, ip)));
  }

  private isNode(ip: Uint8Array): boolean {
    return this.nodes.has(formatIp(ip));
  }

  classifyFrame(f: CapturedFrame): FrameClass {
    try {
      const link = linkPayload(f);
      if (link.ipOff === null) return { kind: "non-ip", detail: `ethertype 0x${link.ethertype.toString(16).padStart(4, "0")}` };
      // IPsec recirculates the decrypted packet on the receiving NIC; only egress is asserted on.
      if (f.direction === "in" || link.outgoing === false) return { kind: "inbound", detail: "received packet" };
      return this.classifyIp(f.data, link.ipOff, 0);
    } catch (e) {
      if (e instanceof Malformed) return { kind: "malformed", detail: `frame ${f.index}: ${e.message}` };
      throw e;
    }
  }

  private classifyIp(d: Uint8Array, off: number, depth: number): FrameClass {
    const ip = parseIpPacket(d, off);
    const where = `${formatIp(ip.src)} > ${formatIp(ip.dst)}`;
    const via = depth === 0 ? "" : " inside the overlay";
    if (ip.proto === 50) {
      if (ip.l4 === null) return { kind: "esp", detail: `ESP fragment ${where}${via}` };
      need(d, ip.l4, 8, "ESP header");
      const spi = u32(d, ip.l4);
      return { kind: "esp", detail: `ESP spi=0x${spi.toString(16)} seq=${u32(d, ip.l4 + 4)} ${where}${via}`, spi };
    }
    let sport: number | null = null;
    let dport: number | null = null;
    if (ip.proto === 17 && ip.l4 !== null) {
      need(d, ip.l4, 8, "UDP header");
      sport = u16(d, ip.l4);
      dport = u16(d, ip.l4 + 2);
      const udpLen = u16(d, ip.l4 + 4);
      if (udpLen < 8 || udpLen > ip.l4Len) throw new Malformed(`UDP length ${udpLen} inconsistent with IP payload ${ip.l4Len}`);
      const payload = ip.l4 + 8;
      if (sport === WIREGUARD_PORT || dport === WIREGUARD_PORT) {
        const wg = isWireguard(d, payload, udpLen - 8);
        if (wg.ok) {
          return { kind: wg.type === 4 ? "wireguard-data" : "wireguard-handshake", detail: `WireGuard type ${wg.type} ${where}${via}` };
        }
        // Something else on the WireGuard port is not evidence of encryption; judge it as plain UDP.
      }
      const encap = depth === 0 ? (this.opts.tunnelPorts.get(dport) ?? this.opts.tunnelPorts.get(sport)) : undefined;
      if (encap) return this.decapsulate(d, payload, encap, where);
    }
    if ((ip.proto === 6 || ip.proto === 132) && ip.l4 !== null && ip.l4 + 4 <= d.length) {
      sport = u16(d, ip.l4);
      dport = u16(d, ip.l4 + 2);
    }
    const proto = ip.proto === 6 ? "TCP" : ip.proto === 17 ? "UDP" : ip.proto === 1 ? "ICMP" : ip.proto === 58 ? "ICMPv6" : `proto ${ip.proto}`;
    const ports = sport !== null ? ` ports ${sport} > ${dport}` : "";
    const desc = `${proto} ${where}${ports}${via}`;

    if (this.isPod(ip.src) && this.isPod(ip.dst)) return { kind: "leak", detail: `plaintext pod-to-pod ${desc}` };
    if (depth > 0) {
      return this.opts.overlayMustBeEncrypted
        ? { kind: "leak", detail: `plaintext overlay packet ${desc}` }
        : { kind: "tunnel-plaintext", detail: `plaintext overlay (host) packet ${desc}` };
    }
    if (this.isControl(d, ip)) return { kind: "control", detail: `positive control ${desc}` };
    if (this.isNode(ip.src) && this.isNode(ip.dst)) {
      if (this.opts.hostTrafficMustBeEncrypted && !isNeighbourDiscovery(d, ip)) {
        return { kind: "leak", detail: `plaintext node-to-node ${desc} with node encryption on` };
      }
      return { kind: "host-plaintext", detail: `node-to-node ${desc}` };
    }
    return { kind: "other", detail: desc };
  }

  private decapsulate(d: Uint8Array, off: number, encap: "vxlan" | "geneve", outer: string): FrameClass {
    let inner: number;
    let ethernet = true;
    if (encap === "vxlan") {
      need(d, off, 8, "VXLAN header");
      if ((d[off]! & 0x08) === 0) throw new Malformed(`VXLAN header without the I flag (${outer})`);
      inner = off + 8;
    } else {
      need(d, off, 8, "Geneve header");
      if (d[off]! >> 6 !== 0) throw new Malformed(`Geneve version ${d[off]! >> 6} (${outer})`);
      const optLen = (d[off]! & 0x3f) * 4;
      const ptype = u16(d, off + 2);
      inner = off + 8 + optLen;
      if (ptype === 0x0800 || ptype === 0x86dd) ethernet = false;
      else if (ptype !== 0x6558) throw new Malformed(`Geneve protocol type 0x${ptype.toString(16)} (${outer})`);
    }
    if (ethernet) {
      const e = etherPayload(d, inner);
      if (e.ipOff === null) {
        return this.opts.overlayMustBeEncrypted
          ? { kind: "leak", detail: `plaintext overlay frame (ethertype 0x${e.ethertype.toString(16)}) ${outer}` }
          : { kind: "tunnel-plaintext", detail: `overlay frame ethertype 0x${e.ethertype.toString(16)} ${outer}` };
      }
      inner = e.ipOff;
    }
    return this.classifyIp(d, inner, 1);
  }

  private isControl(d: Uint8Array, ip: IpPacket): boolean {
    const marker = this.opts.controlMarker;
    if (!marker || ip.l4 === null || (ip.proto !== 1 && ip.proto !== 58)) return false;
    const type = d[ip.l4];
    const echo = ip.proto === 1 ? type === 8 || type === 0 : type === 128 || type === 129;
    return echo && Buffer.from(d.subarray(ip.l4 + 8)).indexOf(Buffer.from(marker)) >= 0;
  }
}

// ICMPv6 router/neighbour solicitations and advertisements stay in clear by design.
function isNeighbourDiscovery(d: Uint8Array, ip: IpPacket): boolean {
  if (ip.proto !== 58 || ip.l4 === null || ip.l4 >= d.length) return false;
  const t = d[ip.l4]!;
  return t >= 133 && t <= 137;
}

export type WireVerdict = "encrypted" | "plaintext" | "inconclusive";

export interface CaptureSummary {
  frames: number;
  esp: number;
  espSpis: number[];
  wireguardData: number;
  wireguardHandshake: number;
  leaks: number;
  control: number;
  hostPlaintext: number;
  tunnelPlaintext: number;
  inbound: number;
  nonIp: number;
  other: number;
  malformed: number;
  samples: { leaks: string[]; malformed: string[] };
  problems: string[];
}

const SAMPLE_LIMIT = 5;

export function summarizeCapture(bytes: Uint8Array, opts: ClassifyOptions): CaptureSummary {
  const capture = readCapture(bytes);
  const c = new Classifier(opts);
  const s: CaptureSummary = {
    frames: capture.frames.length,
    esp: 0,
    espSpis: [],
    wireguardData: 0,
    wireguardHandshake: 0,
    leaks: 0,
    control: 0,
    hostPlaintext: 0,
    tunnelPlaintext: 0,
    inbound: 0,
    nonIp: 0,
    other: 0,
    malformed: 0,
    samples: { leaks: [], malformed: [] },
    problems: capture.problems,
  };
  const spis = new Set<number>();
  for (const f of capture.frames) {
    const r = c.classifyFrame(f);
    switch (r.kind) {
      case "esp":
        s.esp++;
        if (r.spi !== undefined) spis.add(r.spi);
        break;
      case "wireguard-data":
        s.wireguardData++;
        break;
      case "wireguard-handshake":
        s.wireguardHandshake++;
        break;
      case "leak":
        s.leaks++;
        if (s.samples.leaks.length < SAMPLE_LIMIT) s.samples.leaks.push(`frame ${f.index}: ${r.detail}`);
        break;
      case "control":
        s.control++;
        break;
      case "host-plaintext":
        s.hostPlaintext++;
        break;
      case "tunnel-plaintext":
        s.tunnelPlaintext++;
        break;
      case "inbound":
        s.inbound++;
        break;
      case "non-ip":
        s.nonIp++;
        break;
      case "other":
        s.other++;
        break;
      case "malformed":
        s.malformed++;
        if (s.samples.malformed.length < SAMPLE_LIMIT) s.samples.malformed.push(r.detail);
        break;
    }
  }
  s.espSpis = [...spis].sort((a, b) => a - b).slice(0, 16);
  return s;
}

export function judgeCapture(s: CaptureSummary, mode: "ipsec" | "wireguard", requireControl: boolean): { verdict: WireVerdict; reasons: string[] } {
  if (s.leaks > 0) {
    return { verdict: "plaintext", reasons: [`${s.leaks} plaintext packet(s) that must be encrypted: ${s.samples.leaks.join("; ")}`] };
  }
  const reasons: string[] = [];
  if (s.problems.length > 0) reasons.push(`capture file damaged: ${s.problems.join("; ")}`);
  if (s.malformed > 0)
    reasons.push(`${s.malformed} frame(s) could not be decoded, so they cannot be ruled out as plaintext: ${s.samples.malformed.join("; ")}`);
  const encrypted = mode === "ipsec" ? s.esp : s.wireguardData;
  if (encrypted === 0) {
    reasons.push(
      mode === "ipsec"
        ? "no ESP packet seen: the capture cannot show that the test traffic was encrypted"
        : `no WireGuard transport-data packet (UDP ${WIREGUARD_PORT}) seen: the capture cannot show that the test traffic was encrypted`,
    );
  }
  if (requireControl && s.control === 0) {
    reasons.push("positive control not seen: the plaintext probe between the two nodes was not captured, so the capture might not see plaintext at all");
  }
  return reasons.length > 0 ? { verdict: "inconclusive", reasons } : { verdict: "encrypted", reasons: [] };
}
