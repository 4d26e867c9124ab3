import { parseAgentStatus, parseEncryptStatus, type AgentStatusEncryption, type EncryptionStatus } from './agentStatus';
import type { VerifierArgs } from './args';
import {
  AGENT_CONTAINER, daemonSetRollout, expectedIpsecKeys, parseAgentPods, parseCiliumConfig, parseNodes,
  ClusterDataError, type AgentPod, type NodeInfo,
} from './cluster';
import { evaluateConfig, evaluateNode, type Expectations, type NodeObservation, type NodeResult, type Outcome } from './evaluate';
import { describeFailure, type Kubectl, type KubectlResult } from './kubectl';
import { buildReport, type ClusterSummary, type Report, type WireResult } from './report';
import { runWireCheck, type WireInput } from './wire';

export const DAEMONSET = 'cilium';
export const AGENT_SELECTOR = 'k8s-app=cilium';
const AGENT_QUERY_CONCURRENCY = 4;
const UNREACHABLE_RETRIES = 3;
const UNVERIFIED_ROUNDS = 3;

export interface RunDeps {
  kubectl: Kubectl;
  sleep(ms: number): Promise<void>;
  now(): number;
  log(line: string): void;
  wireCheck?: (input: WireInput) => Promise<WireResult>;
}

class Unverifiable extends Error {}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

// A flag the agent binary does not know means an old build: fall back to its text output.
function jsonUnsupported(r: KubectlResult): boolean {
  return r.code !== 0 && /unknown (shorthand )?flag/.test(r.stderr);
}

export async function verify(args: VerifierArgs, deps: RunDeps): Promise<Report> {
  const started = deps.now();
  const deadline = started + args.timeoutSeconds * 1000;
  const { kubectl, log } = deps;
  const ns = ['-n', args.namespace];
  const base = { mode: args.mode, ciliumVersion: args.ciliumVersion.text, namespace: args.namespace, checkedAt: new Date(started) };
  const warnings: string[] = [];
  let cluster: ClusterSummary | null = null;
  let configProblems: string[] = [];
  let nodeResults: NodeResult[] = [];

  const get = async (what: string, argv: string[]): Promise<string> => {
    for (let attempt = 1; ; attempt++) {
      const r = await kubectl.run(argv);
      if (r.code === 0) return r.stdout.toString('utf8');
      if (/NotFound|not found/.test(r.stderr)) throw new Unverifiable(`${what} not found: ${describeFailure(r)}`);
      if (attempt >= UNREACHABLE_RETRIES || deps.now() >= deadline) throw new Unverifiable(`cannot read ${what}: ${describeFailure(r)}`);
      log(`cannot read ${what} (${describeFailure(r)}), retrying`);
      await deps.sleep(Math.min(2000, args.pollIntervalSeconds * 1000));
    }
  };

  try {
    for (;;) {
      const state = daemonSetRollout(await get(`DaemonSet ${args.namespace}/${DAEMONSET}`, [...ns, 'get', 'daemonset', DAEMONSET, '-o', 'json']));
      log(state.message);
      if (state.done) break;
      if (deps.now() >= deadline) {
        const pods = parseAgentPods(await get('agent pods', [...ns, 'get', 'pods', '-l', AGENT_SELECTOR, '-o', 'json']));
        const notReady = pods.filter((p) => !p.agentReady).map((p) => `${p.node ?? '(unscheduled)'} (${p.name}, ${p.phase})`);
        throw new Unverifiable(
          `Cilium agent rollout did not finish within ${args.timeoutSeconds}s: ${state.message}${notReady.length ? `; agents not ready: ${notReady.join(', ')}` : ''}`,
        );
      }
      await deps.sleep(args.pollIntervalSeconds * 1000);
    }

    const nodes = parseNodes(await get('nodes', ['get', 'nodes', '-o', 'json']));
    const pods = parseAgentPods(await get('agent pods', [...ns, 'get', 'pods', '-l', AGENT_SELECTOR, '-o', 'json']));
    const cfg = parseCiliumConfig(await get(`ConfigMap ${args.namespace}/cilium-config`, [...ns, 'get', 'configmap', 'cilium-config', '-o', 'json']), args.ciliumVersion);
    if (nodes.length === 0) throw new Unverifiable('the cluster has no nodes');
    configProblems = evaluateConfig(cfg, { mode: args.mode, nodeEncryption: args.nodeEncryption, strictMode: args.strictMode });

    const agentOf = new Map<string, AgentPod>();
    for (const p of pods) {
      if (p.node && p.phase === 'Running' && p.agentReady && !p.deleting) agentOf.set(p.node, p);
    }
    const withAgent = nodes.filter((n) => agentOf.has(n.name));
    const keys = args.mode === 'ipsec' ? expectedIpsecKeys(cfg, args.ciliumVersion, withAgent.length) : null;
    const exp: Expectations = { mode: args.mode, nodeCount: withAgent.length, keys, nodeEncryption: args.nodeEncryption };
    cluster = {
      nodeCount: nodes.length,
      agentCount: withAgent.length,
      ipFamilies: [cfg.ipv4 ? 'ipv4' : null, cfg.ipv6 ? 'ipv6' : null].filter((f): f is string => f !== null),
      routingMode: cfg.routingMode,
      tunnelProtocol: cfg.routingMode === 'tunnel' ? cfg.tunnelProtocol : null,
      expectedKeys: keys?.steady ?? null,
      keyFormula: keys?.formula ?? null,
      expectedPeers: args.mode === 'wireguard' ? Math.max(withAgent.length - 1, 0) : null,
      configRead: cfg.read,
    };
    log(`cluster: ${nodes.length} node(s), ${withAgent.length} with a ready Cilium agent; ${cluster.ipFamilies.join('+')}, ${cfg.routingMode}`);

    nodeResults = await pollAgents(args, deps, nodes, agentOf, exp, deadline);
    const rotating = nodeResults.filter((n) => n.verdict === 'rotating');
    if (rotating.length > 0) {
      warnings.push(`key rotation did not settle within ${args.timeoutSeconds}s on ${rotating.map((n) => n.node).join(', ')}`);
    }

    let wire: WireResult;
    if (!args.wireCheck) wire = { verdict: 'skipped', reason: '--wire-check off' };
    else if (withAgent.length < 2) wire = { verdict: 'not-applicable', reason: 'fewer than two nodes with a Cilium agent: no inter-node traffic to encrypt' };
    else {
      const internalIps = await readCiliumInternalIps(kubectl, log);
      const input: WireInput = { args, cfg, nodes: withAgent, internalIps, deadline };
      wire = deps.wireCheck ? await deps.wireCheck(input) : await runWireCheck(input, deps);
    }
    return buildReport({ ...base, cluster, configProblems, nodes: nodeResults, wire, error: null, warnings });
  } catch (e) {
    if (!(e instanceof Unverifiable) && !(e instanceof ClusterDataError)) throw e;
    return buildReport({
      ...base, cluster, configProblems, nodes: nodeResults, error: (e as Error).message, warnings,
      wire: { verdict: 'skipped', reason: 'verification stopped before the wire check' },
    });
  }
}

async function pollAgents(
  args: VerifierArgs, deps: RunDeps, nodes: readonly NodeInfo[], agentOf: ReadonlyMap<string, AgentPod>,
  exp: Expectations, deadline: number,
): Promise<NodeResult[]> {
  const textOnly = new Set<string>();
  for (let round = 1; ; round++) {
    const results = await mapLimit(nodes, AGENT_QUERY_CONCURRENCY, async (n): Promise<NodeResult> => {
      const pod = agentOf.get(n.name);
      if (!pod) return evaluateNode({ node: n.name, pod: null, encrypt: null, agentStatus: null }, exp);
      const obs: NodeObservation = {
        node: n.name,
        pod: pod.name,
        encrypt: await queryAgent(args, deps.kubectl, pod.name, ['encrypt', 'status'], parseEncryptStatus, textOnly),
        agentStatus: args.mode === 'wireguard' ? await queryAgent(args, deps.kubectl, pod.name, ['status'], parseAgentStatus, textOnly) : null,
      };
      return evaluateNode(obs, exp);
    });
    const rotating = results.filter((r) => r.verdict === 'rotating');
    const unverified = results.filter((r) => r.verdict === 'unverified');
    const failed = results.some((r) => r.verdict === 'fail');
    const again = !failed && (rotating.length > 0 || (unverified.length > 0 && round < UNVERIFIED_ROUNDS));
    if (!again || deps.now() + args.pollIntervalSeconds * 1000 > deadline) return results;
    if (rotating.length > 0) {
      deps.log(`IPsec key rotation in progress on ${rotating.map((r) => `${r.node} (${r.ipsec?.keysInUse} keys)`).join(', ')}; waiting for it to settle`);
    } else {
      deps.log(`could not read ${unverified.map((r) => r.node).join(', ')}; asking again`);
    }
    await deps.sleep(args.pollIntervalSeconds * 1000);
  }
}

async function queryAgent<T extends EncryptionStatus | AgentStatusEncryption>(
  args: VerifierArgs, kubectl: Kubectl, pod: string, command: string[], parse: (s: string) => T, textOnly: Set<string>,
): Promise<Outcome<T>> {
  const key = `${pod}:${command.join(' ')}`;
  const exec = (extra: string[]): Promise<KubectlResult> =>
    kubectl.run(['-n', args.namespace, 'exec', pod, '-c', AGENT_CONTAINER, '--', 'cilium-dbg', ...command, ...extra], { timeoutMs: 30_000 });
  let r: KubectlResult | null = null;
  if (!textOnly.has(key)) {
    r = await exec(['-o', 'json']);
    if (jsonUnsupported(r)) {
      textOnly.add(key);
      r = null;
    }
  }
  r ??= await exec([]);
  if (r.code !== 0) return { ok: false, error: describeFailure(r) };
  try {
    return { ok: true, value: parse(r.stdout.toString('utf8')) };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

// Best effort: the CiliumNode CRD is created by the operator, so it can be absent (and then the
// wire check simply does not know these addresses).
async function readCiliumInternalIps(kubectl: Kubectl, log: (l: string) => void): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  const r = await kubectl.run(['get', 'ciliumnodes', '-o', 'json']);
  if (r.code !== 0) {
    log(`CiliumNodes not readable (${describeFailure(r)}); capturing on node InternalIPs only`);
    return out;
  }
  try {
    const doc = JSON.parse(r.stdout.toString('utf8')) as { items?: Array<{ metadata?: { name?: string }; spec?: { addresses?: Array<{ type?: string; ip?: string }> } }> };
    for (const item of doc.items ?? []) {
      const name = item.metadata?.name;
      const ips = (item.spec?.addresses ?? []).filter((a) => a.type === 'CiliumInternalIP' && typeof a.ip === 'string').map((a) => a.ip!);
      if (name && ips.length > 0) out.set(name, ips);
    }
  } catch {
    log('CiliumNodes output is not JSON; capturing on node InternalIPs only');
  }
  return out;
}
