// Builds frames and capture files byte by byte, so the classifier is tested against bytes whose
// every field the test chose, not against a decoder's idea of them.
import { parseIp } from "../../../verifier/ip";

export type Bytes = Uint8Array;

export function concat(...parts: Bytes[]): Bytes {
  return Uint8Array.from(Buffer.concat(parts.map((p) => Buffer.from(p))));
}
export function be16(v: number): Bytes {
  return Uint8Array.of((v >> 8) & 0xff, v & 0xff);
}
export function be32(v: number): Bytes {
  return Uint8Array.of((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
}
function le32(v: number): Bytes {
  return Uint8Array.of(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
}
function le16(v: number): Bytes {
  return Uint8Array.of(v & 0xff, (v >> 8) & 0xff);
}
function addr(ip: string): Bytes {
  const b = parseIp(ip);
  if (!b) throw new Error(`bad test address ${ip}`);
  return b;
}
export function fill(byte: number, n: number): Bytes {
  return new Uint8Array(n).fill(byte);
}

export function ethernet(payload: Bytes, ethertype = 0x0800, vlan?: number): Bytes {
  const macs = Uint8Array.of(2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1);
  const tag = vlan === undefined ? new Uint8Array(0) : concat(be16(0x8100), be16(vlan));
  return concat(macs, tag, be16(ethertype), payload);
}

export function ipv4(src: string, dst: string, proto: number, payload: Bytes, opts: { fragOffset?: number } = {}): Bytes {
  return concat(
    Uint8Array.of(0x45, 0),
    be16(20 + payload.length),
    be16(1),
    be16(opts.fragOffset ?? 0x4000),
    Uint8Array.of(64, proto),
    be16(0),
    addr(src),
    addr(dst),
    payload,
  );
}

export function ipv6(src: string, dst: string, next: number, payload: Bytes): Bytes {
  return concat(Uint8Array.of(0x60, 0, 0, 0), be16(payload.length), Uint8Array.of(next, 64), addr(src), addr(dst), payload);
}

export function udp(sport: number, dport: number, payload: Bytes): Bytes {
  return concat(be16(sport), be16(dport), be16(8 + payload.length), be16(0), payload);
}

export function tcp(sport: number, dport: number, payload: Bytes = new TextEncoder().encode("GET /hostname HTTP/1.1\r\n\r\n")): Bytes {
  return concat(be16(sport), be16(dport), be32(1), be32(0), Uint8Array.of(0x50, 0x18), be16(502), be16(0), be16(0), payload);
}

export function icmpEcho(payload: Bytes, type = 8): Bytes {
  return concat(Uint8Array.of(type, 0), be16(0), be16(0x1234), be16(1), payload);
}

// rfc4106 GCM: 8-byte IV, ciphertext, pad length, next header, 16-byte ICV; all opaque here.
export function esp(spi: number, seq: number, bodyLen = 48): Bytes {
  return concat(be32(spi), be32(seq), fill(0xa5, bodyLen));
}

export function vxlan(vni: number, innerFrame: Bytes, flags = 0x08): Bytes {
  return concat(Uint8Array.of(flags, 0, 0, 0), Uint8Array.of((vni >> 16) & 0xff, (vni >> 8) & 0xff, vni & 0xff, 0), innerFrame);
}

export function geneve(inner: Bytes, opts: { optionWords?: number; protocol?: number } = {}): Bytes {
  const words = opts.optionWords ?? 0;
  return concat(Uint8Array.of(words & 0x3f, 0), be16(opts.protocol ?? 0x6558), Uint8Array.of(0, 0, 1, 0), fill(0x11, words * 4), inner);
}

export function wgHandshakeInit(): Bytes {
  return concat(Uint8Array.of(1, 0, 0, 0), fill(0x33, 144));
}
export function wgHandshakeResponse(): Bytes {
  return concat(Uint8Array.of(2, 0, 0, 0), fill(0x44, 88));
}
export function wgCookie(): Bytes {
  return concat(Uint8Array.of(3, 0, 0, 0), fill(0x55, 60));
}
export function wgData(plainLen: number): Bytes {
  const padded = Math.ceil(plainLen / 16) * 16;
  return concat(Uint8Array.of(4, 0, 0, 0), le32(0x11223344), fill(0, 8), fill(0x5a, padded + 16));
}

export function pcap(frames: Bytes[], linktype = 1, opts: { bigEndian?: boolean; nanos?: boolean } = {}): Bytes {
  const u32 = opts.bigEndian ? be32 : le32;
  const u16 = opts.bigEndian ? be16 : le16;
  const header = concat(u32(opts.nanos ? 0xa1b23c4d : 0xa1b2c3d4), u16(2), u16(4), u32(0), u32(0), u32(65535), u32(linktype));
  return concat(header, ...frames.map((f, i) => concat(u32(1700000000 + i), u32(0), u32(f.length), u32(f.length), f)));
}

export interface NgPacket {
  data: Bytes;
  direction?: "in" | "out";
  iface?: number;
}

function pad4(b: Bytes): Bytes {
  return concat(b, fill(0, (4 - (b.length % 4)) % 4));
}
function block(type: number, body: Bytes): Bytes {
  const len = 12 + body.length;
  return concat(le32(type), le32(len), body, le32(len));
}

export function pcapng(packets: NgPacket[], linktypes: number[] = [1]): Bytes {
  const shb = block(0x0a0d0d0a, concat(le32(0x1a2b3c4d), le16(1), le16(0), fill(0xff, 8)));
  const idbs = linktypes.map((lt) => block(1, concat(le16(lt), le16(0), le32(262144))));
  const epbs = packets.map((p) => {
    const opts = p.direction ? concat(le16(2), le16(4), le32(p.direction === "in" ? 1 : 2), le16(0), le16(0)) : new Uint8Array(0);
    return block(6, concat(le32(p.iface ?? 0), le32(0), le32(0), le32(p.data.length), le32(p.data.length), pad4(p.data), opts));
  });
  return concat(shb, ...idbs, ...epbs);
}

// Linux cooked capture (tcpdump -i any): packet type 4 = sent by us, 0 = to us.
export function sll(ip: Bytes, outgoing: boolean): Bytes {
  return concat(be16(outgoing ? 4 : 0), be16(1), be16(6), fill(2, 8), be16(0x0800), ip);
}
export function sll2(ip: Bytes, outgoing: boolean): Bytes {
  return concat(be16(0x0800), be16(0), be32(2), be16(1), Uint8Array.of(outgoing ? 4 : 0, 6), fill(2, 8), ip);
}
