// Faults injected per node: STATE_DIR/faults/<node>.json (test/sim/README.md "Faults"). A file
// takes effect when written (its mtime is the fault's start); removing it ends the fault.
import { readdirSync, readFileSync, type Stats, statSync } from "node:fs";
import { join } from "node:path";
import type { NodeFaults, XfrmFault } from "../agent/model";
import { XFRM_STAT_FIELDS } from "../agent/render";

const KEYS = new Set(["agentDown", "mode", "xfrmErrors", "missingPeers", "oseqOffset"]);

/** Validates one fault document; throws with the offending key. */
export function parseFaults(doc: unknown, sinceMs: number): NodeFaults {
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new Error("a fault file holds one JSON object");
  const d = doc as Record<string, unknown>;
  for (const k of Object.keys(d)) if (!KEYS.has(k)) throw new Error(`unknown fault "${k}" (known: ${[...KEYS].join(", ")})`);
  const f: NodeFaults = { sinceMs };
  if (d.agentDown !== undefined) {
    if (typeof d.agentDown !== "boolean") throw new Error("agentDown must be true or false");
    f.agentDown = d.agentDown;
  }
  if (d.mode !== undefined) {
    if (d.mode !== "IPsec" && d.mode !== "Wireguard" && d.mode !== "Disabled") throw new Error('mode must be "IPsec", "Wireguard" or "Disabled"');
    f.mode = d.mode;
  }
  if (d.xfrmErrors !== undefined) {
    if (typeof d.xfrmErrors !== "object" || d.xfrmErrors === null) throw new Error("xfrmErrors must map counter names to {initial, perSecond}");
    const out: Record<string, XfrmFault> = {};
    for (const [name, v] of Object.entries(d.xfrmErrors as Record<string, unknown>)) {
      if (!(XFRM_STAT_FIELDS as readonly string[]).includes(name)) throw new Error(`xfrmErrors: "${name}" is not a /proc/net/xfrm_stat counter`);
      const e = v as Record<string, unknown>;
      const initial = e?.initial ?? 0;
      const perSecond = e?.perSecond ?? 0;
      if (typeof initial !== "number" || typeof perSecond !== "number" || initial < 0 || perSecond < 0) {
        throw new Error(`xfrmErrors.${name}: initial and perSecond must be non-negative numbers`);
      }
      out[name] = { initial, perSecond };
    }
    f.xfrmErrors = out;
  }
  if (d.missingPeers !== undefined) {
    if (!Array.isArray(d.missingPeers) || !d.missingPeers.every((n) => typeof n === "string")) throw new Error("missingPeers must list node names");
    f.missingPeers = d.missingPeers as string[];
  }
  if (d.oseqOffset !== undefined) {
    const n = typeof d.oseqOffset === "string" ? Number(d.oseqOffset) : d.oseqOffset;
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) throw new Error('oseqOffset must be a non-negative integer (or a "0x..." string)');
    f.oseqOffset = n;
  }
  return f;
}

/**
 * XFRM counters are cumulative since boot: when a fault file changes or goes, the counts it
 * produced stay (they only stop growing). Given the faults in force so far (`prev`, as carried
 * before) and the newly read ones, returns what is in force now, with the earlier counts folded
 * into `initial`.
 */
export function carryCounters(prev: Map<string, NodeFaults>, next: Map<string, NodeFaults>, now: number): Map<string, NodeFaults> {
  const out = new Map<string, NodeFaults>();
  const nodes = new Set([...prev.keys(), ...next.keys()]);
  for (const node of nodes) {
    const p = prev.get(node);
    const n = next.get(node);
    // Same fault still in force: nothing to fold.
    if (p !== undefined && n !== undefined && p.sinceMs === n.sinceMs && p.source === n.source) {
      out.set(node, p);
      continue;
    }
    const reached: Record<string, number> = {};
    for (const [name, f] of Object.entries(p?.xfrmErrors ?? {})) {
      reached[name] = Math.floor(f.initial + (f.perSecond * Math.max(0, now - (p?.sinceMs ?? now))) / 1000);
    }
    if (n === undefined && Object.keys(reached).length === 0) continue;
    const merged: NodeFaults = n === undefined ? { sinceMs: now } : { ...n };
    const errors: Record<string, XfrmFault> = {};
    for (const [name, v] of Object.entries(reached)) errors[name] = { initial: v, perSecond: 0 };
    for (const [name, f] of Object.entries(n?.xfrmErrors ?? {})) errors[name] = { initial: f.initial + (reached[name] ?? 0), perSecond: f.perSecond };
    if (Object.keys(errors).length > 0) merged.xfrmErrors = errors;
    out.set(node, merged);
  }
  return out;
}

/** Reads STATE_DIR/faults, re-parsing only files that changed. */
export class FaultDir {
  private cache = new Map<string, { stamp: string; faults: NodeFaults | Error }>();
  private lastStamp = "";

  constructor(private readonly dir: string) {}

  /** The faults per node, whether anything changed since the last read, and per-file errors. */
  read(): { faults: Map<string, NodeFaults>; changed: boolean; errors: Map<string, string> } {
    let names: string[] = [];
    try {
      names = readdirSync(this.dir).filter((n) => n.endsWith(".json"));
    } catch {
      names = [];
    }
    const faults = new Map<string, NodeFaults>();
    const errors = new Map<string, string>();
    const stamps: string[] = [];
    const next = new Map<string, { stamp: string; faults: NodeFaults | Error }>();
    for (const name of names.sort()) {
      const path = join(this.dir, name);
      let st: Stats;
      try {
        st = statSync(path);
      } catch {
        continue;
      }
      const stamp = `${name}:${st.mtimeMs}:${st.size}`;
      stamps.push(stamp);
      let entry = this.cache.get(name);
      if (entry?.stamp !== stamp) {
        let parsed: NodeFaults | Error;
        try {
          parsed = { ...parseFaults(JSON.parse(readFileSync(path, "utf8")), st.mtimeMs), source: stamp };
        } catch (e) {
          parsed = e as Error;
        }
        entry = { stamp, faults: parsed };
      }
      next.set(name, entry);
      const node = name.slice(0, -".json".length);
      if (entry.faults instanceof Error) errors.set(node, entry.faults.message);
      else faults.set(node, entry.faults);
    }
    this.cache = next;
    const stamp = stamps.join("|");
    const changed = stamp !== this.lastStamp;
    this.lastStamp = stamp;
    return { faults, changed, errors };
  }
}
