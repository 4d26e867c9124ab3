import type { EncryptionMode } from "./args";
import type { CaptureSummary, WireVerdict } from "./classify";
import type { NodeResult, XfrmCounter } from "./evaluate";

// 2: nodes listed only with a problem or a warning (counts for the rest), XFRM totals and growth,
// compacted wire results, run statistics.
export const REPORT_SCHEMA_VERSION = 2;

export type Verdict = "verified" | "not-encrypted" | "unverified";
export const EXIT_CODES: Record<Verdict, 0 | 1 | 2> = { verified: 0, "not-encrypted": 1, unverified: 2 };

// What stays readable in a log line or a failed `pulumi up` message.
const DIGEST_PROBLEMS = 10;
const NAMES_SHOWN = 5;

export interface WireNodeResult {
  node: string;
  role: "client" | "server";
  interface: string | null;
  verdict: WireVerdict | "error";
  reasons: string[];
  counts: (Omit<CaptureSummary, "samples" | "problems" | "espSpis"> & { espSpis: string[] }) | null;
}

export type WireResult =
  | { verdict: "skipped"; reason: string }
  | { verdict: "not-applicable"; reason: string }
  | { verdict: "error"; reason: string; nodes: WireNodeResult[] }
  | { verdict: WireVerdict; positiveControl: string; nodes: WireNodeResult[]; reasons: string[] };

// The wire result as reported: captures that proved encryption are counted, the others listed.
export interface ReportWire {
  verdict: WireResult["verdict"];
  reason?: string;
  positiveControl?: string;
  reasons?: string[];
  captured: number;
  encrypted: number;
  nodes: WireNodeResult[];
}

export interface Range {
  min: number;
  max: number;
}

export interface ClusterSummary {
  nodeCount: number;
  agentCount: number;
  // The nodes Cilium knows, which decide the expected keys and peers.
  knownNodes: number;
  knownFrom: "CiliumNode" | "agent pods";
  clusterId: number;
  ipFamilies: string[];
  routingMode: string;
  tunnelProtocol: string | null;
  ipam: string;
  keysPerRemoteNode: { ipv4: number; ipv6: number; why: string } | null;
  expectedKeys: Range | null;
  expectedPeers: Range | null;
  // IPsec --key-id: the key id every node had to announce in its CiliumNode.
  expectedKeyId: number | null;
  rule: "exactly" | "at least";
  configRead: Record<string, string>;
}

export interface RunStats {
  rounds: number;
  agentQueries: number;
  throttled: number;
  concurrency: number;
  durationSeconds: number;
}

export interface Problem {
  node: string | null;
  severity: "fail" | "unverified";
  reason: string;
}

export interface ReportNode extends NodeResult {
  wire: WireVerdict | "error" | "not-captured" | "skipped";
}

export interface NodeCounts {
  total: number;
  ok: number;
  fail: number;
  unverified: number;
  withWarnings: number;
}

export interface Report {
  schemaVersion: number;
  verdict: Verdict;
  exitCode: 0 | 1 | 2;
  mode: EncryptionMode | null;
  ciliumVersion: string | null;
  namespace: string | null;
  checkedAt: string;
  cluster: ClusterSummary | null;
  configProblems: string[];
  nodeCounts: NodeCounts;
  // Only nodes with a problem or a warning.
  nodes: ReportNode[];
  // IPsec: per counter, the sum over nodes of totals (since boot) and of growth (during the check).
  xfrm: Record<string, XfrmCounter & { nodes: number }> | null;
  wire: ReportWire;
  problems: Problem[];
  warnings: string[];
  stats: RunStats | null;
  error: string | null;
}

export interface ReportInput {
  mode: EncryptionMode | null;
  ciliumVersion: string | null;
  namespace: string | null;
  checkedAt: Date;
  cluster: ClusterSummary | null;
  configProblems: string[];
  nodes: NodeResult[];
  wire: WireResult;
  // Anything that stopped verification before or between the checks (timeout, unreachable API).
  error: string | null;
  warnings: string[];
  stats: RunStats | null;
}

function names(list: readonly string[]): string {
  const shown = list.slice(0, NAMES_SHOWN).join(", ");
  return list.length > NAMES_SHOWN ? `${shown} and ${list.length - NAMES_SHOWN} more` : shown;
}

// The same warning on many nodes is one line naming a few of them.
function groupWarnings(nodes: readonly NodeResult[]): string[] {
  const byText = new Map<string, string[]>();
  for (const n of nodes) for (const w of n.warnings) byText.set(w, [...(byText.get(w) ?? []), n.node]);
  return [...byText].map(([w, on]) => (on.length === 1 ? `${on[0]}: ${w}` : `${w} (${on.length} nodes: ${names(on)})`));
}

function sumXfrm(nodes: readonly NodeResult[]): Record<string, XfrmCounter & { nodes: number }> | null {
  const withIpsec = nodes.filter((n) => n.ipsec);
  if (withIpsec.length === 0) return null;
  const out: Record<string, XfrmCounter & { nodes: number }> = {};
  for (const n of withIpsec) {
    for (const [name, c] of Object.entries(n.ipsec!.xfrm)) {
      const o = out[name] ?? { total: 0, growth: 0, nodes: 0 };
      out[name] = o;
      o.total += c.total;
      o.growth += c.growth;
      o.nodes += 1;
    }
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}

function reportWire(wire: WireResult): ReportWire {
  const all = "nodes" in wire ? wire.nodes : [];
  const { nodes: _all, ...rest } = wire as WireResult & { nodes?: WireNodeResult[] };
  return {
    ...rest,
    captured: all.filter((n) => n.verdict !== "error").length,
    encrypted: all.filter((n) => n.verdict === "encrypted").length,
    nodes: all.filter((n) => n.verdict !== "encrypted"),
  };
}

export function buildReport(input: ReportInput): Report {
  const problems: Problem[] = [];
  if (input.error) problems.push({ node: null, severity: "unverified", reason: input.error });
  for (const r of input.configProblems) problems.push({ node: null, severity: "fail", reason: r });
  for (const n of input.nodes) {
    if (n.verdict === "ok") continue;
    const severity = n.verdict === "fail" ? "fail" : "unverified";
    for (const reason of n.reasons) problems.push({ node: n.node, severity, reason });
  }
  const wire = input.wire;
  if (wire.verdict === "plaintext" || wire.verdict === "inconclusive" || wire.verdict === "error") {
    const severity = wire.verdict === "plaintext" ? "fail" : "unverified";
    if (wire.verdict === "error") problems.push({ node: null, severity, reason: `wire check: ${wire.reason}` });
    for (const w of wire.nodes) {
      if (w.verdict === "encrypted") continue;
      for (const reason of w.reasons)
        problems.push({ node: w.node, severity: w.verdict === "plaintext" ? "fail" : "unverified", reason: `wire check: ${reason}` });
    }
    if (wire.verdict !== "error") for (const reason of wire.reasons) problems.push({ node: null, severity, reason: `wire check: ${reason}` });
  }
  const verdict: Verdict = problems.some((p) => p.severity === "fail") ? "not-encrypted" : problems.length > 0 ? "unverified" : "verified";
  const wireByNode = new Map<string, WireNodeResult>("nodes" in wire ? wire.nodes.map((w) => [w.node, w]) : []);
  const wireOf = (node: string): ReportNode["wire"] =>
    wire.verdict === "skipped" || wire.verdict === "not-applicable" ? "skipped" : (wireByNode.get(node)?.verdict ?? "not-captured");
  const listed = input.nodes.filter(
    (n) => n.verdict !== "ok" || n.warnings.length > 0 || ["plaintext", "inconclusive", "error"].includes(wireByNode.get(n.node)?.verdict ?? ""),
  );
  return {
    schemaVersion: REPORT_SCHEMA_VERSION,
    verdict,
    exitCode: EXIT_CODES[verdict],
    mode: input.mode,
    ciliumVersion: input.ciliumVersion,
    namespace: input.namespace,
    checkedAt: input.checkedAt.toISOString(),
    cluster: input.cluster,
    configProblems: input.configProblems,
    nodeCounts: {
      total: input.nodes.length,
      ok: input.nodes.filter((n) => n.verdict === "ok").length,
      fail: input.nodes.filter((n) => n.verdict === "fail").length,
      unverified: input.nodes.filter((n) => n.verdict === "unverified" || n.verdict === "pending").length,
      withWarnings: input.nodes.filter((n) => n.warnings.length > 0).length,
    },
    nodes: listed.map((n) => ({ ...n, wire: wireOf(n.node) })),
    xfrm: sumXfrm(input.nodes),
    wire: reportWire(wire),
    problems,
    warnings: [...input.warnings, ...groupWarnings(input.nodes)],
    stats: input.stats,
    error: input.error,
  };
}

// The same reason on many nodes is one line naming a few of them.
function groupProblems(problems: readonly Problem[]): Array<{ severity: Problem["severity"]; reason: string; nodes: string[] }> {
  const groups = new Map<string, { severity: Problem["severity"]; reason: string; nodes: string[] }>();
  for (const p of problems) {
    const key = `${p.severity}\u0000${p.reason}`;
    const g = groups.get(key) ?? { severity: p.severity, reason: p.reason, nodes: [] };
    if (p.node !== null) g.nodes.push(p.node);
    groups.set(key, g);
  }
  return [...groups.values()];
}

export interface Digest {
  schemaVersion: number;
  verdict: Verdict;
  exitCode: 0 | 1 | 2;
  mode: EncryptionMode | null;
  error: string | null;
  nodeCounts: NodeCounts;
  problems: Problem[];
  problemsOmitted: number;
  reportFile: string | null;
}

// What stdout carries when verification fails: short, because the command provider copies
// stdout into the error of a failed `pulumi up`; the full report goes to --report-file.
export function digest(r: Report, reportFile: string | null): Digest {
  const groups = groupProblems(r.problems).slice(0, DIGEST_PROBLEMS);
  const problems = groups.map((g) => ({ node: g.nodes.length === 0 ? null : names(g.nodes), severity: g.severity, reason: g.reason }));
  const shown = groups.reduce((a, g) => a + Math.max(g.nodes.length, 1), 0);
  return {
    schemaVersion: r.schemaVersion,
    verdict: r.verdict,
    exitCode: r.exitCode,
    mode: r.mode,
    error: r.error,
    nodeCounts: r.nodeCounts,
    problems,
    problemsOmitted: r.problems.length - shown,
    reportFile,
  };
}

// For stderr: a few lines whatever the cluster size.
export function summarize(r: Report): string {
  const lines: string[] = [];
  const head = {
    verified: `VERIFIED: ${r.mode} encryption is on and working`,
    "not-encrypted": `NOT ENCRYPTED: ${r.mode} encryption is not working as configured`,
    unverified: "COULD NOT VERIFY encryption",
  }[r.verdict];
  lines.push(`${head} (exit ${r.exitCode})`);
  if (r.cluster) {
    const c = r.cluster;
    const range = (x: Range): string => (x.min === x.max ? `${x.min}` : `${x.min}-${x.max}`);
    const rule = c.rule === "at least" ? "at least " : "";
    const expect = c.expectedKeys
      ? `, ${rule}${range(c.expectedKeys)} IPsec keys per node`
      : c.expectedPeers
        ? `, ${rule}${range(c.expectedPeers)} WireGuard peers per node`
        : "";
    lines.push(
      `  cluster: ${c.nodeCount} node(s), ${c.agentCount} agent(s), ${c.knownNodes} known to Cilium (${c.knownFrom}), ${c.ipFamilies.join("+")}, ${c.routingMode}${c.tunnelProtocol ? `/${c.tunnelProtocol}` : ""}${expect}`,
    );
  }
  const n = r.nodeCounts;
  lines.push(`  nodes: ${n.ok} ok, ${n.fail} failed, ${n.unverified} not verified, ${n.withWarnings} with warnings`);
  if (r.xfrm && Object.keys(r.xfrm).length > 0) {
    lines.push(
      `  XFRM counters (total since boot, growth during the check): ${Object.entries(r.xfrm)
        .map(([k, c]) => `${k} ${c.total} (+${c.growth})`)
        .join(", ")}`,
    );
  }
  lines.push(
    `  wire check: ${r.wire.verdict}${r.wire.reason ? ` (${r.wire.reason})` : r.wire.captured > 0 ? ` (${r.wire.encrypted} of ${r.wire.captured} captures encrypted)` : ""}`,
  );
  const groups = groupProblems(r.problems);
  for (const g of groups.slice(0, DIGEST_PROBLEMS)) {
    lines.push(`  ${g.severity === "fail" ? "FAIL" : "UNVERIFIED"} ${g.nodes.length ? names(g.nodes) : "cluster"}: ${g.reason}`);
  }
  if (groups.length > DIGEST_PROBLEMS) lines.push(`  ... ${groups.length - DIGEST_PROBLEMS} more problem(s) in the report`);
  for (const w of r.warnings.slice(0, DIGEST_PROBLEMS)) lines.push(`  warning: ${w}`);
  if (r.warnings.length > DIGEST_PROBLEMS) lines.push(`  ... ${r.warnings.length - DIGEST_PROBLEMS} more warning(s) in the report`);
  if (r.stats) lines.push(`  ${r.stats.agentQueries} agent queries in ${r.stats.rounds} round(s), ${r.stats.durationSeconds}s`);
  return lines.join("\n");
}
