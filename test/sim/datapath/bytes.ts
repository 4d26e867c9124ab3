// Wire formats the simulated datapath writes, built here from the RFCs and never shared with the
// verifier: a bug in the verifier's decoder must not be mirrored by the encoder that feeds it.
//   IPv4 RFC 791, IPv6 RFC 8200, UDP RFC 768, TCP RFC 9293, ICMP RFC 792, ICMPv6 RFC 4443,
//   ESP RFC 4303, VXLAN RFC 7348, Geneve RFC 8926, WireGuard whitepaper §5.4,
//   classic pcap (draft-ietf-opsawg-pcap).

export type Bytes = Uint8Array;

export function concat(...parts: Bytes[]): Bytes {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export function u16be(v: number): Bytes {
  return Uint8Array.of((v >>> 8) & 0xff, v & 0xff);
}
export function u32be(v: number): Bytes {
  return Uint8Array.of((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
}
function u16le(v: number): Bytes {
  return Uint8Array.of(v & 0xff, (v >>> 8) & 0xff);
}
function u32le(v: number): Bytes {
  return Uint8Array.of(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
}

export function parseAddr(text: string): Bytes {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(text)) {
    const parts = text.split(".").map(Number);
    if (parts.some((p) => p > 255)) throw new Error(`bad IPv4 address ${text}`);
    return Uint8Array.from(parts);
  }
  const halves = text.split("::");
  if (halves.length > 2 || !/^[0-9a-fA-F:]+$/.test(text)) throw new Error(`bad IP address ${text}`);
  const words = (s: string): number[] =>
    s === ""
      ? []
      : s.split(":").map((w) => {
          if (!/^[0-9a-fA-F]{1,4}$/.test(w)) throw new Error(`bad IPv6 address ${text}`);
          return parseInt(w, 16);
        });
  const head = words(halves[0]!);
  const tail = halves.length === 2 ? words(halves[1]!) : [];
  const fill = 8 - head.length - tail.length;
  if ((halves.length === 1 && fill !== 0) || fill < 0) throw new Error(`bad IPv6 address ${text}`);
  const all = [...head, ...new Array<number>(halves.length === 2 ? fill : 0).fill(0), ...tail];
  return concat(...all.map(u16be));
}

export function familyOf(text: string): 4 | 6 {
  return text.includes(":") ? 6 : 4;
}

// RFC 1071 ones'-complement sum.
function checksum(...parts: Bytes[]): number {
  const all = concat(...parts);
  let sum = 0;
  for (let i = 0; i < all.length; i += 2) sum += (all[i]! << 8) | (all[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export const PROTO = { ICMP: 1, TCP: 6, UDP: 17, ESP: 50, ICMPV6: 58 } as const;

export interface Ip {
  src: string;
  dst: string;
}

function pseudoHeader(ip: Ip, proto: number, length: number): Bytes {
  return familyOf(ip.src) === 4
    ? concat(parseAddr(ip.src), parseAddr(ip.dst), Uint8Array.of(0, proto), u16be(length))
    : concat(parseAddr(ip.src), parseAddr(ip.dst), u32be(length), Uint8Array.of(0, 0, 0, proto));
}

export function ipPacket(ip: Ip, proto: number, payload: Bytes): Bytes {
  if (familyOf(ip.src) !== familyOf(ip.dst)) throw new Error(`address families differ: ${ip.src} > ${ip.dst}`);
  if (familyOf(ip.src) === 6) {
    return concat(Uint8Array.of(0x60, 0, 0, 0), u16be(payload.length), Uint8Array.of(proto, 64), parseAddr(ip.src), parseAddr(ip.dst), payload);
  }
  // Deterministic identification (the payload's checksum): the same traffic gives the same bytes.
  const id = checksum(payload);
  const head = (sum: number): Bytes =>
    concat(
      Uint8Array.of(0x45, 0),
      u16be(20 + payload.length),
      u16be(id),
      u16be(0x4000),
      Uint8Array.of(64, proto),
      u16be(sum),
      parseAddr(ip.src),
      parseAddr(ip.dst),
    );
  return concat(head(checksum(head(0))), payload);
}

export function udp(ip: Ip, sport: number, dport: number, payload: Bytes): Bytes {
  const len = 8 + payload.length;
  const sum = checksum(pseudoHeader(ip, PROTO.UDP, len), u16be(sport), u16be(dport), u16be(len), u16be(0), payload);
  return ipPacket(ip, PROTO.UDP, concat(u16be(sport), u16be(dport), u16be(len), u16be(sum === 0 ? 0xffff : sum), payload));
}

export const TCP_FLAGS = { FIN: 0x01, SYN: 0x02, PSH: 0x08, ACK: 0x10 } as const;

export interface TcpSegment {
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  payload: Bytes;
}

export function tcp(ip: Ip, s: TcpSegment): Bytes {
  const head = (sum: number): Bytes =>
    concat(u16be(s.sport), u16be(s.dport), u32be(s.seq >>> 0), u32be(s.ack >>> 0), Uint8Array.of(0x50, s.flags), u16be(64240), u16be(sum), u16be(0));
  const len = 20 + s.payload.length;
  return ipPacket(ip, PROTO.TCP, concat(head(checksum(pseudoHeader(ip, PROTO.TCP, len), head(0), s.payload)), s.payload));
}

// Echo request (v4 type 8, v6 type 128) or reply (0 / 129).
export function icmpEcho(ip: Ip, reply: boolean, id: number, seq: number, data: Bytes): Bytes {
  const v6 = familyOf(ip.src) === 6;
  const type = v6 ? (reply ? 129 : 128) : reply ? 0 : 8;
  const body = (sum: number): Bytes => concat(Uint8Array.of(type, 0), u16be(sum), u16be(id), u16be(seq), data);
  const sum = v6 ? checksum(pseudoHeader(ip, PROTO.ICMPV6, 8 + data.length), body(0)) : checksum(body(0));
  return ipPacket(ip, v6 ? PROTO.ICMPV6 : PROTO.ICMP, body(sum));
}

// Deterministic filler for ciphertext: xorshift32, so a capture is reproducible and no inner byte
// survives encryption.
export function opaque(seed: number, n: number): Bytes {
  let x = seed >>> 0 || 0x9e3779b9;
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

export type EspCipher = "gcm-128" | "cbc-hmac-sha256";

// ESP in tunnel mode around `inner` (a whole IP packet). rfc4106(gcm(aes)): 8-byte IV, payload,
// padding to 4 bytes with the 2-byte trailer, 16-byte ICV. cbc(aes) with hmac(sha256): 16-byte IV,
// padding to the 16-byte block, ICV of 16 bytes (sha256 truncated to 128 bits, RFC 4868).
export function esp(ip: Ip, spi: number, seq: number, inner: Bytes, cipher: EspCipher = "gcm-128"): Bytes {
  const ivLen = cipher === "gcm-128" ? 8 : 16;
  const block = cipher === "gcm-128" ? 4 : 16;
  const body = Math.ceil((inner.length + 2) / block) * block;
  return ipPacket(ip, PROTO.ESP, concat(u32be(spi), u32be(seq), opaque(spi ^ seq ^ inner.length, ivLen + body + 16)));
}

// WireGuard transport data: type 4, 3 reserved bytes, receiver index and counter little-endian,
// then the encrypted packet padded to 16 bytes plus the 16-byte Poly1305 tag.
export function wireguardData(ip: Ip, receiver: number, counter: number, inner: Bytes, port = 51871): Bytes {
  const padded = Math.ceil(inner.length / 16) * 16;
  const msg = concat(Uint8Array.of(4, 0, 0, 0), u32le(receiver), u32le(counter), u32le(0), opaque(receiver ^ counter, padded + 16));
  return udp(ip, port, port, msg);
}

export function ethernet(src: Bytes, dst: Bytes, inner: Bytes): Bytes {
  const type = inner[0]! >> 4 === 6 ? 0x86dd : 0x0800;
  return concat(dst, src, u16be(type), inner);
}

// VXLAN (I flag, 24-bit VNI) or Geneve (version 0, no options, protocol 0x6558 = Ethernet) carrying
// an Ethernet frame.
export function overlay(kind: "vxlan" | "geneve", ip: Ip, sport: number, dport: number, vni: number, frame: Bytes): Bytes {
  const vniBytes = Uint8Array.of((vni >>> 16) & 0xff, (vni >>> 8) & 0xff, vni & 0xff, 0);
  const head = kind === "vxlan" ? concat(Uint8Array.of(0x08, 0, 0, 0), vniBytes) : concat(Uint8Array.of(0, 0), u16be(0x6558), vniBytes);
  return udp(ip, sport, dport, concat(head, frame));
}

export interface PcapRecord {
  timeMs: number;
  frame: Bytes;
}

// Classic pcap as tcpdump -w writes it on x86: little-endian, microsecond timestamps, EN10MB.
export function pcapHeader(snaplen: number): Bytes {
  return concat(u32le(0xa1b2c3d4), u16le(2), u16le(4), u32le(0), u32le(0), u32le(snaplen), u32le(1));
}

export function pcapRecord(r: PcapRecord, snaplen: number): Bytes {
  const data = r.frame.subarray(0, snaplen);
  const sec = Math.floor(r.timeMs / 1000);
  const usec = Math.round((r.timeMs - sec * 1000) * 1000);
  return concat(u32le(sec), u32le(usec), u32le(data.length), u32le(r.frame.length), data);
}

export function pcapFile(records: readonly PcapRecord[], snaplen: number): Bytes {
  return concat(pcapHeader(snaplen), ...records.map((r) => pcapRecord(r, snaplen)));
}
