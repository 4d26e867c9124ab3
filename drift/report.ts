/**
 * Turns the engine's events of a refresh preview and a preview into a drift report: which resources
 * changed out of band and which fields, old → new for plain fields and "changed (secret)" for secret
 * ones. For the refresh it compares the recorded outputs with the refreshed ones itself, as
 * `terraform plan -refresh-only` does: the engine's refresh diff only covers fields the program sets,
 * so a label added with kubectl carries new outputs but no diff. Values come from events the engine
 * has already masked ("[secret]"); every field of a Secret or of the random bytes is masked here too,
 * whatever the event carries, and so are a Helm release's values outside the encryption settings.
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
  /**
   * What `pulumi up` would do about it: update, create (deleted out of band), replace, delete; or
   * changed-outside: changed out of band in fields the program does not set, which up leaves as they are.
   */
  op: string;
  fields: FieldChange[];
}

export const CHANGED_OUTSIDE = "changed-outside";
const MASK = "[secret]";
/** The engine's marker of a secret value in serialized properties (sdk/go/common/resource/sig). */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
/**
 * Types whose every field is masked. A Secret may carry its data anywhere: `data`, `stringData`, or
 * the copy kubectl keeps in the annotation kubectl.kubernetes.io/last-applied-configuration after a
 * `kubectl apply`; the random bytes are the PSK in every encoding.
 */
const MASK_ALL = new Set(["kubernetes:core/v1:Secret", "random:index/randomBytes:RandomBytes"]);
const HELM_RELEASE = "kubernetes:helm.sh/v3:Release";
/**
 * Fields of a Helm release whose values are masked though no one marked them secret, their paths
 * kept: a release's values are whatever its users passed to Helm, private keys included (Cilium's
 * chart takes `tls.ca.key`, `hubble.tls.server.key` and Cluster Mesh client keys as values: cilium
 * v1.20.2 install/kubernetes/cilium/values.yaml), and an out-of-band `helm upgrade` is no
 * `pulumi config set --secret`. Repository options hold credentials, and a chart reference can
 * carry them in its URL (`oci://user:token@...`). Shown: the encryption values this program sets,
 * which hold no secret and are what drift is mostly about.
 */
function releaseFieldMasked(path: string): boolean {
  const [field, key] = parsePath(path);
  if (field === "values") return key !== "encryption" && key !== "rollOutCiliumPods";
  return field === undefined || field === "chart" || field === "repositoryOpts" || field === "valueYamlFiles";
}
/** Rewritten by the API server on every write: they say that something changed, never what. */
const SERVER_MANAGED = /^metadata\.(resourceVersion|managedFields)(\.|\[|$)/;
const NO_CHANGE = new Set(["same", "read", "refresh", "read-discard", "discard-replaced"]);

/** The segments of an `a.b[0]["c.d"]` style property path, as the engine writes them in detailedDiff. */
export function parsePath(path: string): Array<string | number> {
  return [...path.matchAll(/\["((?:[^"\\]|\\.)*)"\]|\[(\d+)\]|([^.[\]]+)/g)].map((m) =>
    m[1] !== undefined ? (JSON.parse(`"${m[1]}"`) as string) : m[2] !== undefined ? Number(m[2]) : m[3]!,
  );
}

/** The value at a path; a path into a masked value reads as masked (the engine's diff names paths inside secrets). */
export function getPath(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const p of parsePath(path)) {
    if (isSecretValue(cur)) return MASK;
    if (cur === null || typeof cur !== "object" || !Object.hasOwn(cur, p)) return undefined;
    cur = (cur as Record<string | number, unknown>)[p];
  }
  return cur;
}

/** Appends a key to a property path in the engine's notation, quoting keys that are not plain names. */
export function joinPath(path: string, key: string | number): string {
  if (typeof key === "number") return `${path}[${key}]`;
  if (/^[A-Za-z_][\w]*$/.test(key)) return path === "" ? key : `${path}.${key}`;
  return `${path}[${JSON.stringify(key)}]`;
}

function isSecretValue(v: unknown): boolean {
  return v === MASK || (v !== null && typeof v === "object" && Object.hasOwn(v, SECRET_SIG));
}

function containsMask(v: unknown): boolean {
  if (isSecretValue(v)) return true;
  if (v !== null && typeof v === "object") return Object.values(v).some(containsMask);
  return false;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object" && !Array.isArray(v) && !isSecretValue(v);

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  // Two masked values look alike whatever they hide; the engine's own diff is what tells them apart.
  if (isSecretValue(a) && isSecretValue(b)) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && sameValue(a[k], b[k]));
  }
  return false;
}

export interface ValueChange {
  path: string;
  /** add, delete, update; from the engine also its replace kinds. */
  kind: string;
  before?: unknown;
  after?: unknown;
}

/** Every difference between two JSON values, at the deepest path both sides still have. */
export function diffValues(before: unknown, after: unknown, path = ""): ValueChange[] {
  if (sameValue(before, after)) return [];
  if (isPlainObject(before) && isPlainObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((k) => {
      const p = joinPath(path, k);
      if (!Object.hasOwn(before, k)) return [{ path: p, kind: "add", after: after[k] }];
      if (!Object.hasOwn(after, k)) return [{ path: p, kind: "delete", before: before[k] }];
      return diffValues(before[k], after[k], p);
    });
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    return Array.from({ length: Math.max(before.length, after.length) }, (_, i) => {
      const p = joinPath(path, i);
      if (i >= before.length) return [{ path: p, kind: "add", after: after[i] }];
      if (i >= after.length) return [{ path: p, kind: "delete", before: before[i] }];
      return diffValues(before[i], after[i], p);
    }).flat();
  }
  return [{ path, kind: "update", before, after }];
}

function nameOf(urn: string): string {
  return urn.split("::").at(-1) ?? urn;
}

/** A field change as the report shows it: values only when neither the type, the field nor the value is secret. */
export function maskedChange(type: string, c: ValueChange): FieldChange {
  const secret = MASK_ALL.has(type) || (type === HELM_RELEASE && releaseFieldMasked(c.path)) || containsMask(c.before) || containsMask(c.after);
  const change: FieldChange = { path: c.path, kind: c.kind, secret };
  if (!secret) Object.assign(change, { before: c.before, after: c.after });
  return change;
}

/** The fields the engine's own diff names (detailedDiff, or only the top-level keys it changed). */
function engineDiffFields(m: StepEventMetadata, side: "inputs" | "outputs"): FieldChange[] {
  const diff = m.detailedDiff ?? Object.fromEntries((m.diffs ?? []).map((d) => [d, { kind: "update", inputDiff: side === "inputs" }]));
  return Object.entries(diff).map(([path, d]) =>
    maskedChange(m.type, { path, kind: d.kind, before: getPath(m.old?.[side], path), after: getPath(m.new?.[side], path) }),
  );
}

/** What changed out of band: the recorded outputs against the refreshed ones, whatever the program sets. */
function outputFields(m: StepEventMetadata): FieldChange[] {
  if (m.old === undefined || m.new === undefined || m.op === "delete") return [];
  return diffValues(m.old.outputs, m.new.outputs)
    .filter((c) => !SERVER_MANAGED.test(c.path))
    .map((c) => maskedChange(m.type, c));
}

function unionByPath(...lists: FieldChange[][]): FieldChange[] {
  const byPath = new Map<string, FieldChange>();
  for (const f of lists.flat()) if (!byPath.has(f.path)) byPath.set(f.path, f);
  return [...byPath.values()].sort((a, b) => a.path.localeCompare(b.path));
}

/**
 * Read, not managed: a `.get()` or a StackReference (the program reads its own stack's outputs, which
 * every update changes). The engine marks them external (apitype StepEventStateMetadata.External,
 * which the SDK's type leaves out).
 */
function isExternal(m: StepEventMetadata): boolean {
  return m.type === "pulumi:pulumi:StackReference" || (m.old as { external?: boolean } | undefined)?.external === true;
}

/**
 * Drift in the events of one engine run. For a refresh preview: the resource outputs events, which
 * carry the recorded state (old) and the refreshed one (new), compared field by field. For a preview:
 * the step events, comparing the program with the state (inputs).
 */
export function driftFromEvents(events: EngineEvent[], kind: "refresh" | "preview"): DriftedResource[] {
  const out: DriftedResource[] = [];
  for (const e of events) {
    const m = kind === "refresh" ? e.resOutputsEvent?.metadata : e.resourcePreEvent?.metadata;
    if (m === undefined || m.type === "pulumi:pulumi:Stack" || m.type.startsWith("pulumi:providers:") || isExternal(m)) continue;
    const fields = kind === "refresh" ? unionByPath(engineDiffFields(m, "outputs"), outputFields(m)) : unionByPath(engineDiffFields(m, "inputs"));
    if (NO_CHANGE.has(m.op) && fields.length === 0) continue;
    out.push({ type: m.type, name: nameOf(m.urn), op: NO_CHANGE.has(m.op) ? CHANGED_OUTSIDE : m.op, fields });
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
    if (!NO_CHANGE.has(r.op) && r.op !== CHANGED_OUTSIDE) seen.op = r.op;
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
    lines.push(`  ${r.type} ${r.name}: ${r.op === CHANGED_OUTSIDE ? "changed out of band in fields the program does not set (up leaves them)" : r.op}`);
    for (const f of r.fields) lines.push(`    ${f.path}: ${f.secret ? "changed (secret)" : `${show(f.before)} → ${show(f.after)}`}`);
  }
  if (report.encryption !== undefined) lines.push(`encryption: ${report.encryption.verdict}: ${report.encryption.summary}`);
  return lines.join("\n");
}
