import type { EncryptionMode } from './args';
import type { CaptureSummary, WireVerdict } from './classify';
import type { NodeResult } from './evaluate';

export const REPORT_SCHEMA_VERSION = 1;

export type Verdict = 'verified' | 'not-encrypted' | 'unverified';
export const EXIT_CODES: Record<Verdict, 0 | 1 | 2> = { verified: 0, 'not-encrypted': 1, unverified: 2 };

export interface WireNodeResult {
  node: string;
  role: 'client' | 'server';
  interface: string | null;
  verdict: WireVerdict | 'error';
  reasons: string[];
  counts: Omit<CaptureSummary, 'samples' | 'problems' | 'espSpis'> & { espSpis: string[] } | null;
}

export type WireResult =
  | { verdict: 'skipped'; reason: string }
  | { verdict: 'not-applicable'; reason: string }
  | { verdict: 'error'; reason: string; nodes: WireNodeResult[] }
  | { verdict: WireVerdict; positiveControl: string; nodes: WireNodeResult[]; reasons: string[] };

export interface ClusterSummary {
  nodeCount: number;
  agentCount: number;
  ipFamilies: string[];
  routingMode: string;
  tunnelProtocol: string | null;
  expectedKeys: number | null;
  keyFormula: string | null;
  expectedPeers: number | null;
  configRead: Record<string, string>;
}

export interface Problem {
  node: string | null;
  severity: 'fail' | 'unverified';
  reason: string;
}

export interface ReportNode extends NodeResult {
  wire: WireVerdict | 'error' | 'not-captured' | 'skipped';
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
  nodes: ReportNode[];
  wire: WireResult;
  problems: Problem[];
  warnings: string[];
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
}

export function buildReport(input: ReportInput): Report {
  const problems: Problem[] = [];
  if (input.error) problems.push({ node: null, severity: 'unverified', reason: input.error });
  for (const r of input.configProblems) problems.push({ node: null, severity: 'fail', reason: r });
  for (const n of input.nodes) {
    if (n.verdict === 'ok') continue;
    const severity = n.verdict === 'fail' ? 'fail' : 'unverified';
    for (const reason of n.reasons) problems.push({ node: n.node, severity, reason });
  }
  const wire = input.wire;
  if (wire.verdict === 'plaintext' || wire.verdict === 'inconclusive' || wire.verdict === 'error') {
    const severity = wire.verdict === 'plaintext' ? 'fail' : 'unverified';
    if (wire.verdict === 'error') problems.push({ node: null, severity, reason: `wire check: ${wire.reason}` });
    for (const w of wire.nodes) {
      if (w.verdict === 'encrypted') continue;
      for (const reason of w.reasons) problems.push({ node: w.node, severity: w.verdict === 'plaintext' ? 'fail' : 'unverified', reason: `wire check: ${reason}` });
    }
    if (wire.verdict !== 'error') for (const reason of wire.reasons) problems.push({ node: null, severity, reason: `wire check: ${reason}` });
  }
  const verdict: Verdict = problems.some((p) => p.severity === 'fail')
    ? 'not-encrypted'
    : problems.length > 0
      ? 'unverified'
      : 'verified';
  const wireByNode = new Map<string, WireNodeResult>('nodes' in wire ? wire.nodes.map((w) => [w.node, w]) : []);
  const warnings = [...input.warnings, ...input.nodes.flatMap((n) => n.warnings.map((w) => `${n.node}: ${w}`))];
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
    nodes: input.nodes.map((n) => ({
      ...n,
      wire: wire.verdict === 'skipped' || wire.verdict === 'not-applicable' ? 'skipped' : (wireByNode.get(n.node)?.verdict ?? 'not-captured'),
    })),
    wire,
    problems,
    warnings,
    error: input.error,
  };
}

export function summarize(r: Report): string {
  const lines: string[] = [];
  const head = {
    verified: `VERIFIED: ${r.mode} encryption is on and working`,
    'not-encrypted': `NOT ENCRYPTED: ${r.mode} encryption is not working as configured`,
    unverified: 'COULD NOT VERIFY encryption',
  }[r.verdict];
  lines.push(`${head} (exit ${r.exitCode})`);
  if (r.cluster) {
    const c = r.cluster;
    const expect = c.expectedKeys !== null ? `, ${c.expectedKeys} IPsec keys expected per node` : c.expectedPeers !== null ? `, ${c.expectedPeers} WireGuard peers expected per node` : '';
    lines.push(`  cluster: ${c.nodeCount} node(s), ${c.agentCount} agent(s), ${c.ipFamilies.join('+')}, ${c.routingMode}${c.tunnelProtocol ? `/${c.tunnelProtocol}` : ''}${expect}`);
  }
  for (const n of r.nodes) {
    const facts: string[] = [n.verdict];
    if (n.ipsec) facts.push(`keys ${n.ipsec.keysInUse}/${n.ipsec.expectedKeys}`, `errors ${n.ipsec.errorCount}`);
    if (n.wireguard) facts.push(`peers ${n.wireguard.peers ?? '-'}/${n.wireguard.expectedPeers}`);
    if (n.wire !== 'skipped' && n.wire !== 'not-captured') facts.push(`wire ${n.wire}`);
    lines.push(`  ${n.node}: ${facts.join(', ')}`);
  }
  lines.push(`  wire check: ${r.wire.verdict}${'reason' in r.wire ? ` (${r.wire.reason})` : ''}`);
  for (const p of r.problems) lines.push(`  ${p.severity === 'fail' ? 'FAIL' : 'UNVERIFIED'} ${p.node ?? 'cluster'}: ${p.reason}`);
  for (const w of r.warnings) lines.push(`  warning: ${w}`);
  return lines.join('\n');
}
