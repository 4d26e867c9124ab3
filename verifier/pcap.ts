// Reader for classic pcap and pcapng as written by tcpdump. Pure: bytes in, frames out.
// A broken file header is an error; a damaged record ends the read and is reported as a
// problem, so a capture cut short by a kill never passes silently.

export type Direction = "in" | "out" | "unknown";

export interface CapturedFrame {
  index: number;
  linktype: number;
  data: Uint8Array;
  origLen: number;
  direction: Direction;
}

export interface Capture {
  format: "pcap" | "pcapng";
  frames: CapturedFrame[];
  problems: string[];
}

export class PcapFormatError extends Error {
  override name = "PcapFormatError";
}

// Larger than any snaplen tcpdump uses (262144); a bigger record length means corruption.
const MAX_RECORD = 262144;

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function readCapture(bytes: Uint8Array): Capture {
  if (bytes.length === 0) throw new PcapFormatError("capture is empty: no pcap header at all");
  if (bytes.length < 4) throw new PcapFormatError(`capture is ${bytes.length} byte(s), too short for a pcap header`);
  const dv = view(bytes);
  const magicLE = dv.getUint32(0, true);
  if (magicLE === 0x0a0d0d0a) return readPcapng(bytes);
  let le: boolean;
  if (magicLE === 0xa1b2c3d4 || magicLE === 0xa1b23c4d) le = true;
  else if (magicLE === 0xd4c3b2a1 || magicLE === 0x4d3cb2a1) le = false;
  else throw new PcapFormatError(`not a pcap or pcapng file (magic 0x${magicLE.toString(16).padStart(8, "0")})`);
  if (bytes.length < 24) throw new PcapFormatError(`pcap global header truncated: ${bytes.length} of 24 bytes`);
  const linktype = dv.getUint32(20, le) & 0xffff;
  const frames: CapturedFrame[] = [];
  const problems: string[] = [];
  let off = 24;
  while (off < bytes.length) {
    if (off + 16 > bytes.length) {
      problems.push(`record ${frames.length}: header truncated (${bytes.length - off} of 16 bytes)`);
      break;
    }
    const incl = dv.getUint32(off + 8, le);
    const orig = dv.getUint32(off + 12, le);
    if (incl > MAX_RECORD) {
      problems.push(`record ${frames.length}: implausible captured length ${incl}`);
      break;
    }
    if (off + 16 + incl > bytes.length) {
      problems.push(`record ${frames.length}: data truncated (${bytes.length - off - 16} of ${incl} bytes)`);
      break;
    }
    frames.push({
      index: frames.length,
      linktype,
      data: bytes.subarray(off + 16, off + 16 + incl),
      origLen: Math.max(orig, incl),
      direction: "unknown",
    });
    off += 16 + incl;
  }
  return { format: "pcap", frames, problems };
}

function readPcapng(bytes: Uint8Array): Capture {
  const dv = view(bytes);
  const frames: CapturedFrame[] = [];
  const problems: string[] = [];
  let le = true;
  let interfaces: number[] = [];
  let off = 0;
  let sawSection = false;
  while (off < bytes.length) {
    if (off + 12 > bytes.length) {
      problems.push(`block at ${off}: truncated header`);
      break;
    }
    const type = dv.getUint32(off, true);
    if (type === 0x0a0d0d0a) {
      if (off + 12 > bytes.length) break;
      const bom = dv.getUint32(off + 8, true);
      if (bom === 0x1a2b3c4d) le = true;
      else if (bom === 0x4d3c2b1a) le = false;
      else {
        if (!sawSection) throw new PcapFormatError(`pcapng section header has a bad byte-order magic 0x${bom.toString(16)}`);
        problems.push(`block at ${off}: bad byte-order magic`);
        break;
      }
      sawSection = true;
      interfaces = [];
    } else if (!sawSection) {
      throw new PcapFormatError("pcapng file does not start with a section header block");
    }
    const len = dv.getUint32(off + 4, le);
    if (len < 12 || len % 4 !== 0) {
      problems.push(`block at ${off}: invalid length ${len}`);
      break;
    }
    if (off + len > bytes.length) {
      problems.push(`block at ${off}: truncated (${bytes.length - off} of ${len} bytes)`);
      break;
    }
    const btype = dv.getUint32(off, le);
    const body = off + 8;
    const end = off + len - 4;
    if (btype === 1) {
      if (end - body < 8) {
        problems.push(`interface block at ${off}: too short`);
        break;
      }
      interfaces.push(dv.getUint16(body, le));
    } else if (btype === 6) {
      if (end - body < 20) {
        problems.push(`packet block at ${off}: too short`);
        break;
      }
      const ifId = dv.getUint32(body, le);
      const cap = dv.getUint32(body + 12, le);
      const orig = dv.getUint32(body + 16, le);
      const linktype = interfaces[ifId];
      if (linktype === undefined) {
        problems.push(`packet block at ${off}: unknown interface ${ifId}`);
        break;
      }
      if (body + 20 + cap > end) {
        problems.push(`packet block at ${off}: data overruns the block`);
        break;
      }
      frames.push({
        index: frames.length,
        linktype,
        data: bytes.subarray(body + 20, body + 20 + cap),
        origLen: Math.max(orig, cap),
        direction: epbDirection(dv, body + 20 + ((cap + 3) & ~3), end, le),
      });
    } else if (btype === 3) {
      const linktype = interfaces[0];
      if (linktype === undefined) {
        problems.push(`simple packet block at ${off} before any interface`);
        break;
      }
      const orig = dv.getUint32(body, le);
      const cap = Math.min(orig, end - body - 4);
      frames.push({ index: frames.length, linktype, data: bytes.subarray(body + 4, body + 4 + cap), origLen: orig, direction: "unknown" });
    }
    off += len;
  }
  return { format: "pcapng", frames, problems };
}

// epb_flags (option 2): bits 0-1 are 01 inbound, 10 outbound.
function epbDirection(dv: DataView, off: number, end: number, le: boolean): Direction {
  while (off + 4 <= end) {
    const code = dv.getUint16(off, le);
    const len = dv.getUint16(off + 2, le);
    if (code === 0) break;
    if (code === 2 && len === 4 && off + 8 <= end) {
      const d = dv.getUint32(off + 4, le) & 3;
      return d === 1 ? "in" : d === 2 ? "out" : "unknown";
    }
    off += 4 + ((len + 3) & ~3);
  }
  return "unknown";
}
