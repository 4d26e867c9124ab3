import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parseAgentStatus, parseEncryptStatus } from '../../../verifier/agentStatus';
import { expectedIpsecKeys, parseCiliumConfig } from '../../../verifier/cluster';
import { evaluateConfig, evaluateNode, type NodeObservation, type Outcome } from '../../../verifier/evaluate';
import { buildReport } from '../../../verifier/report';
import { requireCiliumVersion as parseCiliumVersion } from '../../../encryption/ciliumVersion';
import { renderAll } from '../../fixtures/agents/generate';
import { FIXTURES, fixtureFile, loadManifest, scenarioNames, type Manifest } from './scenarios';

function outcome<T>(text: string | null, parse: (s: string) => T, error: string | null): Outcome<T> | null {
  if (error !== null) return { ok: false, error };
  if (text === null) return null;
  try {
    return { ok: true, value: parse(text) };
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
}

// The pure pipeline over one scenario, reading either the JSON or the text outputs.
function judge(name: string, m: Manifest, format: 'json' | 'txt', dir = '') {
  const version = parseCiliumVersion(m.ciliumVersion);
  const cfg = parseCiliumConfig(JSON.stringify({ data: m.config }), version);
  const agents = m.nodes.filter((n) => n.agent !== false);
  const exp = {
    mode: m.mode,
    nodeCount: agents.length,
    keys: m.mode === 'ipsec' ? expectedIpsecKeys(cfg, version, agents.length) : null,
    nodeEncryption: m.expectations.nodeEncryption,
  };
  const nodes = m.nodes.map((n) => {
    const error = fixtureFile(name, `${n.name}.error`);
    const obs: NodeObservation = {
      node: n.name,
      pod: n.agent === false ? null : `cilium-${n.name}`,
      encrypt: n.agent === false ? null : outcome(fixtureFile(name, `${dir}${n.name}.encrypt-status.${format}`), parseEncryptStatus, error),
      agentStatus: m.mode === 'wireguard' && n.agent !== false ? outcome(fixtureFile(name, `${dir}${n.name}.status.${format}`), parseAgentStatus, error) : null,
    };
    return evaluateNode(obs, exp);
  });
  return buildReport({
    mode: m.mode, ciliumVersion: m.ciliumVersion, namespace: 'kube-system', checkedAt: new Date(0), cluster: null,
    configProblems: evaluateConfig(cfg, { mode: m.mode, ...m.expectations }), nodes,
    wire: { verdict: 'skipped', reason: 'unit test' }, error: null, warnings: [],
  });
}

describe('recorded agent outputs, scenario by scenario', () => {
  const names = scenarioNames();

  it('cover Cilium 1.16 to 1.20, both modes, every fault the issue lists', () => {
    for (const minor of [16, 17, 18, 19, 20]) assert.ok(names.some((n) => n.includes(`-1.${minor}-`)), `1.${minor}`);
    for (const kind of ['ipsec-.*-healthy', 'wireguard-.*-healthy', 'xfrm-errors', 'rotation', 'ipsec-.*-agent-missing', 'wireguard-.*-agent-missing', 'ipsec-.*-wrong-mode', 'wireguard-.*-wrong-mode']) {
      assert.ok(names.some((n) => new RegExp(kind).test(n)), kind);
    }
  });

  for (const name of names) {
    const m = loadManifest(name);
    for (const format of ['json', 'txt'] as const) {
      const hasJson = m.nodes.some((n) => fixtureFile(name, `${n.name}.encrypt-status.json`) !== null);
      if (format === 'json' && !hasJson) continue;
      it(`${name} (${format}): ${m.expect.verdict}${m.expect.problems.length ? `, naming ${m.expect.problems.map((p) => p.node).join(', ')}` : ''}`, () => {
        const r = judge(name, m, format);
        assert.equal(r.verdict, m.expect.verdict, JSON.stringify(r.problems));
        assert.equal(r.problems.length, m.expect.problems.length, JSON.stringify(r.problems));
        m.expect.problems.forEach((p, i) => {
          assert.equal(r.problems[i]!.node, p.node);
          assert.equal(r.problems[i]!.severity, p.severity);
          for (const part of p.includes) assert.ok(r.problems[i]!.reason.includes(part), `${r.problems[i]!.reason} should include ${part}`);
        });
        for (const w of m.expect.warningsInclude ?? []) assert.ok(r.warnings.some((x) => x.includes(w)), `warning ${w} in ${JSON.stringify(r.warnings)}`);
      });
    }
  }

  it('the mid-rotation outputs read as a rotation in progress on every node, naming the counts', () => {
    const r = judge('ipsec-1.18-rotation', loadManifest('ipsec-1.18-rotation'), 'json', 'rotating/');
    assert.equal(r.verdict, 'unverified');
    assert.deepEqual(r.nodes.map((n) => n.verdict), ['rotating', 'rotating', 'rotating']);
    assert.match(r.problems[0]!.reason, /key rotation in progress: 16 keys in use, 8 once settled/);
  });

  it('the same healthy outputs fail when the cluster has a node more than the agents saw', () => {
    const m = loadManifest('ipsec-1.18-healthy');
    const bigger: Manifest = { ...m, nodes: [...m.nodes, { name: 'node-d', agent: false }] };
    const r = judge('ipsec-1.18-healthy', bigger, 'json');
    assert.equal(r.verdict, 'not-encrypted');
    assert.equal(r.problems.find((p) => p.node === 'node-d')?.reason, 'no running Cilium agent on this node, so nothing encrypts its traffic');
  });

  it('configuration mismatches are failures of the cluster', () => {
    const m = loadManifest('wireguard-1.19-node-encryption');
    const r = judge('wireguard-1.19-node-encryption', { ...m, expectations: { nodeEncryption: false, strictMode: false } }, 'json');
    assert.equal(r.verdict, 'not-encrypted');
    const reasons = r.problems.map((p) => `${p.node}: ${p.reason}`);
    assert.ok(reasons.includes('null: cilium-config encrypt-node is true, expected false'), reasons.join('\n'));
    assert.ok(reasons.some((x) => x.startsWith('null: strict mode (enable-encryption-strict-mode-egress / enable-encryption-strict-mode) is true, expected false')));
    assert.ok(reasons.includes('node-b: node encryption is Enabled, expected Disabled'));
  });

  it('the committed files are exactly what generate.ts writes', () => {
    for (const [rel, content] of renderAll()) {
      assert.equal(readFileSync(join(FIXTURES, rel), 'utf8'), content, rel);
    }
  });
});
