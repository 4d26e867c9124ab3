/**
 * Turns the engine's step events of a refresh preview and a preview into a drift report: which
 * resources changed out of band and which fields, old → new for plain fields and "changed (secret)"
 * for secret ones. Values come from events the engine has already masked ("[secret]"); fields that
 * hold key material are masked here too, whatever the event says.
 */
import type { EngineEvent, StepEventMetadata } from "@pulumi/pulumi/automation";

export interface FieldChange {
  path: string;
  kind: string;
  secret: boolean;
  before?: unknown;
  after?: unknown;
}

export interface DriftedResource {
  type: string;
  name: string;
  /** What `pulumi up` would do about it: update, create (deleted out of band), replace, delete. */
  op: string;
  fields: FieldChange[];
}

const MASK = "[secret]";
/** Fields that hold the PSK or its encodings; never shown even if an event carried them. */
const KEY_MATERIAL: Record<string, RegExp> = {
  "kubernetes:core/v1:Secret": /^(data|stringData)\b/,
  "random:index/randomBytes:RandomBytes": /^(hex|base64)\b/,
};
const NO_CHANGE = new Set(["same", "read", "refresh", "read-discard", "discard-replaced"]);

/** Reads `a.b[0]["c.d"]` style property paths, as the engine writes them in detailedDiff. */
export function getPath(obj: unknown, path: string): unknown {
  const parts = [...path.matchAll(/\["((?:[^"\\]|\\.)*)"\]|\[(\d+)\]|([^.[\]]+)/g)].map((m) => m[1] ?? m[2] ?? m[3]!);
  let cur: unknown = obj;
  for (const p of parts) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

function containsMask(v: unknown): boolean {
  if (v === MASK) return true;
  if (v !== null && typeof v === "object") return Object.values(v).some(containsMask);
  return false;
}

function nameOf(urn: string): string {
  return urn.split("::").at(-1) ?? urn;
}

function fieldChanges(m: StepEventMetadata, side: "inputs" | "outputs"): FieldChange[] {
  const keyMaterial = KEY_MATERIAL[m.type];
  const diff = m.detailedDiff ?? Object.fromEntries((m.diffs ?? []).map((d) => [d, { kind: "update", inputDiff: side === "inputs" }]));
  return Object.entries(diff)
    .map(([path, d]) => {
      const before = getPath(m.old?.[side], path);
      const after = getPath(m.new?.[side], path);
      const secret = (keyMaterial?.test(path) ?? false) || containsMask(before) || containsMask(after);
      const change: FieldChange = { path, kind: d.kind, secret };
      if (!secret) Object.assign(change, { before, after });
      return change;
    })
    .sort((a, b) => a.path.localeCompare(b.path));
}

/**
 * Drift in the step events of one engine run. For a refresh preview the fields compare the recorded
 * state with the live objects (outputs); for a preview they compare the program with the state (inputs).
 */
export function driftFromEvents(events: EngineEvent[], kind: "refresh" | "preview"): DriftedResource[] {
  const out: DriftedResource[] = [];
  for (const e of events) {
    const m = e.resourcePreEvent?.metadata;
    if (m === undefined || m.type === "pulumi:pulumi:Stack" || m.type.startsWith("pulumi:providers:")) continue;
    const fields = fieldChanges(m, kind === "refresh" ? "outputs" : "inputs");
    if (NO_CHANGE.has(m.op) && fields.length === 0) continue;
    out.push({ type: m.type, name: nameOf(m.urn), op: m.op, fields });
  }
  return out;
}

/** One entry per resource: what changed out of band (refresh) merged with what up would do (preview). */
export function mergeDrift(refresh: DriftedResource[], preview: DriftedResource[]): DriftedResource[] {
  const byKey = new Map<string, DriftedResource>();
  for (const r of [...refresh, ...preview]) {
    const k = `${r.type}::${r.name}`;
    const seen = byKey.get(k);
    if (seen === undefined) {
      byKey.set(k, { ...r, fields: [...r.fields] });
      continue;
    }
    if (!NO_CHANGE.has(r.op)) seen.op = r.op;
    for (const f of r.fields) if (!seen.fields.some((x) => x.path === f.path)) seen.fields.push(f);
  }
  return [...byKey.values()];
}

export interface DriftReport {
  stack: string;
  drifted: DriftedResource[];
  /** Present with --verify: the verifier's verdict on the live cluster. */
  encryption?: { verdict: string; summary: string };
}

export function hasDrift(report: DriftReport): boolean {
  return report.drifted.length > 0 || (report.encryption !== undefined && report.encryption.verdict !== "verified");
}

const show = (v: unknown) => (v === undefined ? "(absent)" : JSON.stringify(v));

export function formatReport(report: DriftReport): string {
  const lines: string[] = [];
  lines.push(
    report.drifted.length === 0
      ? `stack ${report.stack}: no drift`
      : `stack ${report.stack}: ${report.drifted.length} resource(s) drifted; \`pulumi up --refresh\` restores them, \`pulumi refresh\` accepts the live state`,
  );
  for (const r of report.drifted) {
    lines.push(`  ${r.type} ${r.name}: ${r.op}`);
    for (const f of r.fields) lines.push(`    ${f.path}: ${f.secret ? "changed (secret)" : `${show(f.before)} → ${show(f.after)}`}`);
  }
  if (report.encryption !== undefined) lines.push(`encryption: ${report.encryption.verdict}: ${report.encryption.summary}`);
  return lines.join("\n");
}
