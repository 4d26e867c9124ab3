// The simulated datapath: what each node's NIC carries for the traffic the verifier's pods make,
// derived from the cluster's live state. Pure: state + flows + capture request in, frames out.
//
// Whether pod traffic from one node to another is encrypted, and with which SPI, comes from the
// agent simulator's path facts (test/sim/README.md, GET /path): that is agent and kernel state.
// How it then looks on the wire follows Cilium's source at the version named:
//  - IPsec: the SPI is the smaller of the sender's and the receiver's key (cilium v1.18.11
//    bpf/lib/encrypt.h get_min_encrypt_key, called by set_ipsec_encrypt with use_spi_from_map;
//    same in v1.16.19 and v1.17.16), and the SPI on the wire is the key's SPI, 1..15 (v1.18.11
//    pkg/datapath/linux/ipsec/ipsec_linux.go: the XFRM state's Spi is keys.Spi;
//    bpf/lib/encrypt.h MAX_KEY_INDEX 15).
//  - IPsec native routing: ESP between the two nodes' CiliumInternalIPs (v1.18.11
//    pkg/datapath/linux/ipsec.go enableIPSecIPv4Do/enableIPSecIPv6Do: SourceTunnelIP and
//    DestTunnelIP are the CiliumInternalIPs outside subnet encryption; same in v1.17.16).
//  - IPsec tunnel routing before 1.18, ESP inside VXLAN: the endpoint program encrypts the pod
//    packet first (v1.17.16 bpf/bpf_lxc.c: encap_and_redirect_lxc with encrypt_key, and
//    bpf/lib/encap.h __encap_and_redirect_lxc: set_ipsec_encrypt instead of encapsulation), then
//    the ESP packet, back from the stack with MARK_MAGIC_ENCRYPT, is encapsulated toward the
//    remote node (v1.17.16 bpf/bpf_host.c do_netdev_encrypt_encap). Same in v1.16.19.
//  - IPsec tunnel routing from 1.18, VXLAN inside ESP: bpf_lxc no longer encrypts (v1.18.11
//    bpf/lib/encap.h encap_and_redirect_lxc takes no key), the overlay packet is redirected to
//    encryption on its way out (v1.18.11 bpf/bpf_host.c cil_to_netdev ->
//    bpf/lib/encrypt.h ipsec_maybe_redirect_to_encrypt, "ctx_is_overlay": the VXLAN packet's
//    outer daddr is the tunnel endpoint; its comment on the v1.17 -> v1.18 transition confirms
//    that 1.17 encrypted before encapsulation), with XFRM states between the two nodes' underlay
//    InternalIPs ("overlay out IPv4" in v1.18.11 pkg/datapath/linux/ipsec.go). v1.19.7 and
//    v1.20.2 bpf_lxc.c have no set_ipsec_encrypt either.
//  - WireGuard: UDP 51871 both ways (v1.18.11 pkg/wireguard/types ListenPort) between the node
//    InternalIPs, IPv4 when the cluster has IPv4 (pkg/wireguard/agent/agent.go updatePeer: the
//    peer endpoint), carrying the VXLAN packet in tunnel mode (bpf/lib/wireguard.h
//    wg_maybe_redirect_to_encrypt: ctx_is_overlay -> overlay_encrypt; same in v1.16.19 and
//    v1.17.16) or the pod packet in native routing.
//  - Host traffic (from or to a node address): IPsec never encrypts it (bpf/lib/encrypt.h
//    ipsec_redirect_sec_id_ok skips HOST_ID and remote-node identities); WireGuard only with node
//    encryption on the sender and a receiver that did not opt out (v1.18.11
//    pkg/wireguard/agent/agent.go InitLocalNodeFromWireGuard: an opted-out node publishes
//    EncryptionKey 0 "so other nodes should not encrypt node-to-node traffic with us").
//  - Tunnel: VXLAN on the configured port (8472 by default, Geneve 6081), IPv4 underlay when the
//    nodes have IPv4 (the chart's underlayProtocol default), the VNI carrying the source identity.
//  - IPsec decryption re-injects the inner packet on the receiving NIC, so an inbound capture there
//    shows ESP and then the plaintext (cilium-cli tests/encryption.go comments; Cilium docs
//    "Monitoring"); only egress captures prove anything.
//  - A receiver without the matching XFRM state or WireGuard peer drops what arrives: the sender's
//    NIC still shows the first packet, no answer comes back.
import {
  type Bytes,
  type EspCipher,
  esp,
  ethernet,
  familyOf,
  type Ip,
  icmpEcho,
  overlay,
  type PcapRecord,
  PROTO,
  parseAddr,
  TCP_FLAGS,
  tcp,
  wireguardData,
} from "./bytes";
import type { Filter, OuterHeader } from "./filter";

export const WIREGUARD_PORT = 51871;
export const NIC = "eth0";

export interface SimNode {
  name: string;
  internalIPs: string[];
  ciliumInternalIPs: string[];
  podCIDRs: string[];
  // The SPI of the IPsec key the node's agent loaded (null: none).
  ipsecSpi: number | null;
  // WireGuard node encryption on and not opted out.
  nodeEncryption: boolean;
}

// What a sender does with pod traffic toward one receiver.
export interface PodPath {
  from: string;
  to: string;
  encryption: "ipsec" | "wireguard" | "none";
  spi?: number;
  // False when the receiver lacks the XFRM state or WireGuard peer to take it.
  delivered: boolean;
}

export interface SimState {
  ciliumVersion: string;
  routingMode: "tunnel" | "native";
  tunnelProtocol: "vxlan" | "geneve";
  tunnelPort: number;
  ipsecCipher: EspCipher;
  nodes: SimNode[];
  paths: PodPath[];
}

export type Flow =
  | { kind: "http"; at: number; src: string; dst: string; sport: number; dport: number; request: string; response: string }
  | { kind: "ping"; at: number; src: string; dst: string; id: number; count: number; intervalMs: number; pattern: string };

export interface CaptureRequest {
  node: string;
  direction: "in" | "out" | "inout";
  filter: Filter;
  fromMs: number;
  toMs: number;
}

export interface WireFrame {
  timeMs: number;
  node: string;
  direction: "in" | "out";
  frame: Bytes;
  outer: OuterHeader;
}

function minor(version: string): number {
  const m = /^v?1\.(\d+)\./.exec(version);
  if (!m) throw new Error(`Cilium version ${version} is not 1.x.y`);
  return Number(m[1]);
}

function within(cidr: string, addr: string): boolean {
  const [base, bits] = cidr.split("/");
  const b = parseAddr(base!);
  const a = parseAddr(addr);
  if (a.length !== b.length) return false;
  let n = Number(bits);
  for (let i = 0; n > 0; i++, n -= 8) {
    const mask = n >= 8 ? 0xff : (0xff << (8 - n)) & 0xff;
    if ((a[i]! & mask) !== (b[i]! & mask)) return false;
  }
  return true;
}

function same(a: string, b: string): boolean {
  const x = parseAddr(a);
  const y = parseAddr(b);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

export type Owner = { node: SimNode; host: boolean } | null;

// Which node an address lives on, and whether it is the node itself (host) or a pod there.
export function ownerOf(state: SimState, addr: string): Owner {
  for (const n of state.nodes) if (n.internalIPs.some((a) => same(a, addr))) return { node: n, host: true };
  for (const n of state.nodes) if (n.ciliumInternalIPs.some((a) => same(a, addr))) return { node: n, host: true };
  for (const n of state.nodes) if (n.podCIDRs.some((c) => within(c, addr))) return { node: n, host: false };
  return null;
}

function addrOf(list: readonly string[], family: 4 | 6): string | undefined {
  return list.find((a) => familyOf(a) === family);
}

function need(addr: string | undefined, what: string): string {
  if (!addr) throw new Error(`live state has no ${what}`);
  return addr;
}

function mac(node: SimNode, device: number): Bytes {
  let h = 0x811c9dc5;
  for (const c of node.name) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return Uint8Array.of(0x02, device, (h >>> 24) & 0xff, (h >>> 16) & 0xff, (h >>> 8) & 0xff, h & 0xff);
}

function outerOf(frame: Bytes): OuterHeader {
  const ip = 14;
  const version = frame[ip]! >> 4;
  const fmt = (b: Bytes): string =>
    b.length === 4 ? Array.from(b).join(".") : Array.from({ length: 8 }, (_, i) => ((b[2 * i]! << 8) | b[2 * i + 1]!).toString(16)).join(":");
  const l4 = version === 4 ? ip + (frame[ip]! & 0x0f) * 4 : ip + 40;
  const proto = version === 4 ? frame[ip + 9]! : frame[ip + 6]!;
  const ports = proto === PROTO.TCP || proto === PROTO.UDP;
  return {
    family: version === 4 ? 4 : 6,
    src: fmt(version === 4 ? frame.subarray(ip + 12, ip + 16) : frame.subarray(ip + 8, ip + 24)),
    dst: fmt(version === 4 ? frame.subarray(ip + 16, ip + 20) : frame.subarray(ip + 24, ip + 40)),
    proto,
    sport: ports ? (frame[l4]! << 8) | frame[l4 + 1]! : null,
    dport: ports ? (frame[l4 + 2]! << 8) | frame[l4 + 3]! : null,
  };
}

// Sequence numbers and counters per security association, so ESP seq and WireGuard counters grow
// across the packets of one capture as they do on a real SA.
export class Counters {
  private readonly n = new Map<string, number>();
  next(key: string): number {
    const v = (this.n.get(key) ?? 0) + 1;
    this.n.set(key, v);
    return v;
  }
}

// The IPsec key both ends can use (v1.18.11 bpf/lib/encrypt.h get_min_encrypt_key); 0 = none.
export function minEncryptKey(local: number, peer: number): number {
  if (peer === 15) return local === 1 ? peer : local;
  if (local === 15) return peer === 1 ? local : peer;
  return Math.min(local, peer);
}

export type Protection =
  | { kind: "ipsec"; spi: number; delivered: boolean }
  | { kind: "wireguard"; delivered: boolean }
  | { kind: "plaintext"; delivered: boolean };

export function protection(state: SimState, from: SimNode, to: SimNode, host: boolean): Protection {
  const path = state.paths.find((p) => p.from === from.name && p.to === to.name);
  if (path === undefined || path.encryption === "none") return { kind: "plaintext", delivered: true };
  if (path.encryption === "wireguard") {
    if (!host) return { kind: "wireguard", delivered: path.delivered };
    return from.nodeEncryption && to.nodeEncryption ? { kind: "wireguard", delivered: path.delivered } : { kind: "plaintext", delivered: true };
  }
  if (host) return { kind: "plaintext", delivered: true };
  const local = path.spi ?? from.ipsecSpi ?? 0;
  const spi = minEncryptKey(local, to.ipsecSpi ?? local);
  return spi > 0 ? { kind: "ipsec", spi, delivered: path.delivered } : { kind: "plaintext", delivered: true };
}

// One IP packet leaving `from` for `to`, as it appears on the two NICs.
export function onWire(
  state: SimState,
  from: SimNode,
  to: SimNode,
  inner: Bytes,
  host: boolean,
  timeMs: number,
  counters: Counters = new Counters(),
): WireFrame[] {
  const innerFamily = inner[0]! >> 4 === 6 ? 6 : 4;
  const underlayFamily: 4 | 6 = addrOf(from.internalIPs, 4) && addrOf(to.internalIPs, 4) ? 4 : 6;
  const underlay: Ip = {
    src: need(addrOf(from.internalIPs, underlayFamily), `IPv${underlayFamily} InternalIP on node ${from.name}`),
    dst: need(addrOf(to.internalIPs, underlayFamily), `IPv${underlayFamily} InternalIP on node ${to.name}`),
  };
  const ciliumIps = (): Ip => ({
    src: need(addrOf(from.ciliumInternalIPs, innerFamily), `IPv${innerFamily} CiliumInternalIP on node ${from.name}`),
    dst: need(addrOf(to.ciliumInternalIPs, innerFamily), `IPv${innerFamily} CiliumInternalIP on node ${to.name}`),
  });
  const eth = (pkt: Bytes): Bytes => ethernet(mac(from, 0), mac(to, 0), pkt);
  const tunnel = (pkt: Bytes): Bytes => {
    // The kernel picks the source port from a hash of the inner flow (Cilium passes 0 outside
    // XDP: v1.18.11 bpf/lib/encap.h tunnel_gen_src_port_v4), in the ephemeral range.
    let h = 0;
    for (let i = 0; i < Math.min(pkt.length, 40); i++) h = (Math.imul(h, 31) + pkt[i]!) >>> 0;
    const sport = 32768 + (h % 28232);
    // Identity of the verifier's pods: any cluster-local identity (>= 256) serves.
    return overlay(state.tunnelProtocol, underlay, sport, state.tunnelPort, 0x1234, ethernet(mac(from, 1), mac(to, 1), pkt));
  };
  // The peer endpoint is the IPv4 InternalIP when the cluster has IPv4, as the underlay.
  const wg = (pkt: Bytes): Bytes => wireguardData(underlay, hashName(to.name), counters.next(`wg ${from.name}>${to.name}`), pkt, WIREGUARD_PORT);

  const p = protection(state, from, to, host);
  const tunnelled = !host && state.routingMode === "tunnel";
  let out: Bytes;
  // What the receiving NIC sees again once XFRM has decrypted it.
  let reinjected: Bytes | null = null;
  if (p.kind === "plaintext") {
    out = tunnelled ? tunnel(inner) : inner;
  } else if (p.kind === "wireguard") {
    out = wg(tunnelled ? tunnel(inner) : inner);
  } else if (!tunnelled) {
    const sa = ciliumIps();
    out = esp(sa, p.spi, counters.next(`esp ${sa.src}>${sa.dst} ${p.spi}`), inner, state.ipsecCipher);
    reinjected = inner;
  } else if (minor(state.ciliumVersion) >= 18) {
    const vxlan = tunnel(inner);
    out = esp(underlay, p.spi, counters.next(`esp ${underlay.src}>${underlay.dst} ${p.spi}`), vxlan, state.ipsecCipher);
    reinjected = vxlan;
  } else {
    const sa = ciliumIps();
    out = tunnel(esp(sa, p.spi, counters.next(`esp ${sa.src}>${sa.dst} ${p.spi}`), inner, state.ipsecCipher));
  }
  const frame = eth(out);
  const frames: WireFrame[] = [
    { timeMs, node: from.name, direction: "out", frame, outer: outerOf(frame) },
    { timeMs, node: to.name, direction: "in", frame, outer: outerOf(frame) },
  ];
  if (reinjected && p.delivered) {
    const again = ethernet(mac(from, 0), mac(to, 0), reinjected);
    frames.push({ timeMs: timeMs + 0.01, node: to.name, direction: "in", frame: again, outer: outerOf(again) });
  }
  return frames;
}

function hashName(name: string): number {
  let h = 0;
  for (const c of name) h = (Math.imul(h, 131) + c.charCodeAt(0)) >>> 0;
  return h;
}

// The IP packets of a flow in order, each with its direction: true = from the flow's source.
export function flowPackets(flow: Flow): Array<{ at: number; forward: boolean; packet: Bytes }> {
  const fwd: Ip = { src: flow.src, dst: flow.dst };
  const rev: Ip = { src: flow.dst, dst: flow.src };
  if (flow.kind === "ping") {
    const pattern = Buffer.from(flow.pattern, "hex");
    const out: Array<{ at: number; forward: boolean; packet: Bytes }> = [];
    for (let i = 0; i < flow.count; i++) {
      const at = flow.at + i * flow.intervalMs;
      // iputils ping: 56 data bytes filled with the -p pattern, the first 16 overwritten by the
      // send time (struct timeval).
      const data = new Uint8Array(56);
      for (let j = 16; j < 56; j++) data[j] = pattern.length > 0 ? pattern[j % pattern.length]! : 0;
      const tv = new DataView(data.buffer);
      tv.setUint32(0, Math.floor(at / 1000), true);
      tv.setUint32(8, Math.round((at % 1000) * 1000), true);
      out.push({ at, forward: true, packet: icmpEcho(fwd, false, flow.id, i + 1, data) });
      out.push({ at: at + 0.3, forward: false, packet: icmpEcho(rev, true, flow.id, i + 1, data) });
    }
    return out;
  }
  const req = new TextEncoder().encode(flow.request);
  const res = new TextEncoder().encode(flow.response);
  const c = 1000;
  const s = 5000;
  const seg = (forward: boolean, flags: number, seq: number, ack: number, payload: Bytes = new Uint8Array(0)) =>
    forward
      ? tcp(fwd, { sport: flow.sport, dport: flow.dport, seq, ack, flags, payload })
      : tcp(rev, { sport: flow.dport, dport: flow.sport, seq, ack, flags, payload });
  const { SYN, ACK, PSH, FIN } = TCP_FLAGS;
  const steps: Array<[boolean, Bytes]> = [
    [true, seg(true, SYN, c, 0)],
    [false, seg(false, SYN | ACK, s, c + 1)],
    [true, seg(true, ACK, c + 1, s + 1)],
    [true, seg(true, PSH | ACK, c + 1, s + 1, req)],
    [false, seg(false, ACK, s + 1, c + 1 + req.length)],
    [false, seg(false, PSH | ACK, s + 1, c + 1 + req.length, res)],
    [false, seg(false, FIN | ACK, s + 1 + res.length, c + 1 + req.length)],
    [true, seg(true, ACK, c + 1 + req.length, s + 2 + res.length)],
    [true, seg(true, FIN | ACK, c + 1 + req.length, s + 2 + res.length)],
    [false, seg(false, ACK, s + 2 + res.length, c + 2 + req.length)],
  ];
  return steps.map(([forward, packet], i) => ({ at: flow.at + i * 0.2, forward, packet }));
}

// Whether a packet from one end of a flow reaches the other: traffic within a node always does,
// nothing outside the cluster answers, and a receiver without the state to decrypt drops it.
function reaches(state: SimState, from: Owner, to: Owner): boolean {
  if (!from || !to) return false;
  if (from.node.name === to.node.name) return true;
  return protection(state, from.node, to.node, from.host || to.host).delivered;
}

// Whether the flow completes (the client gets its answer): what wget and ping report.
export function flowCompletes(state: SimState, flow: Flow): boolean {
  const src = ownerOf(state, flow.src);
  const dst = ownerOf(state, flow.dst);
  return reaches(state, src, dst) && reaches(state, dst, src);
}

// Everything the flows put on any NIC.
export function wireFrames(state: SimState, flows: readonly Flow[]): WireFrame[] {
  const counters = new Counters();
  const frames: WireFrame[] = [];
  for (const flow of [...flows].sort((a, b) => a.at - b.at)) {
    const src = ownerOf(state, flow.src);
    const dst = ownerOf(state, flow.dst);
    if (!src) throw new Error(`flow source ${flow.src} is on no simulated node`);
    let packets = flowPackets(flow);
    // A lost first packet is all there is of a flow; a lost answer leaves the first exchange.
    if (!reaches(state, src, dst)) packets = packets.slice(0, 1);
    else if (!reaches(state, dst, src)) packets = packets.slice(0, 2);
    for (const p of packets) {
      const from = p.forward ? src : dst;
      const to = p.forward ? dst : src;
      if (!from) continue;
      if (!to) {
        const frame = ethernet(mac(from.node, 0), Uint8Array.of(2, 0xff, 0, 0, 0, 1), p.packet);
        frames.push({ timeMs: p.at, node: from.node.name, direction: "out", frame, outer: outerOf(frame) });
        continue;
      }
      // Traffic within a node never reaches its NIC.
      if (from.node.name === to.node.name) continue;
      frames.push(...onWire(state, from.node, to.node, p.packet, from.host || to.host, p.at, counters));
    }
  }
  return frames.sort((a, b) => a.timeMs - b.timeMs);
}

// What `tcpdump -i eth0 [-Q dir] -w - <filter>` on one node records.
export function capture(state: SimState, flows: readonly Flow[], req: CaptureRequest): PcapRecord[] {
  return wireFrames(state, flows)
    .filter((f) => f.node === req.node && f.timeMs >= req.fromMs && f.timeMs <= req.toMs)
    .filter((f) => req.direction === "inout" || f.direction === req.direction)
    .filter((f) => req.filter(f.outer))
    .map((f) => ({ timeMs: f.timeMs, frame: f.frame }));
}
