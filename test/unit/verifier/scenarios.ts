// Loads the agent-output fixtures and builds the Kubernetes objects a scenario implies.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Scenario } from '../../fixtures/agents/generate';

export const FIXTURES = join(__dirname, '../../fixtures/agents');
export const STANDIN = join(__dirname, '../../e2e/standin');

export type Manifest = Omit<Scenario, 'files'>;

export function scenarioNames(): string[] {
  return readdirSync(FIXTURES, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(FIXTURES, d.name, 'scenario.json')))
    .map((d) => d.name)
    .sort();
}

export function loadManifest(name: string): Manifest {
  return JSON.parse(readFileSync(join(FIXTURES, name, 'scenario.json'), 'utf8')) as Manifest;
}

export function fixtureFile(name: string, file: string): string | null {
  const p = join(FIXTURES, name, file);
  return existsSync(p) ? readFileSync(p, 'utf8') : null;
}

export function nodeIp(i: number): string {
  return `192.0.2.${11 + i}`;
}

export function k8sObjects(m: Manifest, namespace = 'kube-system'): { nodes: string; pods: string; daemonset: string; configmap: string } {
  const nodes = m.nodes.map((n, i) => ({
    metadata: { name: n.name, labels: n.controlPlane ? { 'node-role.kubernetes.io/control-plane': '' } : {} },
    spec: {},
    status: { addresses: [{ type: 'InternalIP', address: nodeIp(i) }, { type: 'Hostname', address: n.name }] },
  }));
  const agents = m.nodes.filter((n) => n.agent !== false);
  const pods = agents.map((n) => ({
    metadata: { name: `cilium-${n.name.replace('node-', '')}x7k`, namespace, labels: { 'k8s-app': 'cilium' } },
    spec: { nodeName: n.name },
    status: { phase: 'Running', containerStatuses: [{ name: 'cilium-agent', ready: true }] },
  }));
  const daemonset = {
    metadata: { name: 'cilium', namespace, generation: 3 },
    spec: { updateStrategy: { type: 'RollingUpdate' } },
    status: { observedGeneration: 3, desiredNumberScheduled: agents.length, updatedNumberScheduled: agents.length, numberAvailable: agents.length, numberReady: agents.length },
  };
  const configmap = { metadata: { name: 'cilium-config', namespace }, data: m.config };
  return {
    nodes: JSON.stringify({ items: nodes }),
    pods: JSON.stringify({ items: pods }),
    daemonset: JSON.stringify(daemonset),
    configmap: JSON.stringify(configmap),
  };
}
