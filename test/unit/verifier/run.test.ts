import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseVerifierArgs } from '../../../verifier/args';
import type { BackgroundProcess, Kubectl, KubectlResult } from '../../../verifier/kubectl';
import type { Report } from '../../../verifier/report';
import { verify } from '../../../verifier/run';
import { calls, handleKubectl, prepareFakeCluster, type FakeOptions } from './fakeCluster';
import { loadManifest } from './scenarios';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

class InProcessKubectl implements Kubectl {
  constructor(private readonly dir: string) {}
  async run(args: readonly string[], opts: { input?: string } = {}): Promise<KubectlResult> {
    return { ...handleKubectl(this.dir, args, opts.input ?? ''), timedOut: false };
  }
  start(args: readonly string[]): BackgroundProcess {
    const r: KubectlResult = { ...handleKubectl(this.dir, args, ''), timedOut: false };
    return { done: Promise.resolve(r), kill: () => undefined, waitForStderr: async (p) => p.test(r.stderr) };
  }
}

interface Run {
  report: Report;
  log: string[];
  dir: string;
  slept: number;
}

async function run(scenario: string, extra: string[] = [], fake: FakeOptions = {}): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'verifier-run-'));
  dirs.push(dir);
  prepareFakeCluster(dir, scenario, fake);
  const m = loadManifest(scenario);
  const args = parseVerifierArgs(['--mode', m.mode, '--namespace', 'kube-system', '--cilium-version', m.ciliumVersion, '--poll-interval', '5', ...extra]);
  let clock = 1_000_000;
  let slept = 0;
  const log: string[] = [];
  const report = await verify(args, {
    kubectl: new InProcessKubectl(dir),
    now: () => clock,
    sleep: async (ms) => {
      clock += ms;
      slept += ms;
    },
    log: (l) => log.push(l),
  });
  return { report, log, dir, slept };
}

describe('verify() against a stand-in cluster', () => {
  it('healthy IPsec 1.18: verified, wire check encrypted on both nodes, test namespace removed', async () => {
    const { report, dir, log } = await run('ipsec-1.18-healthy');
    assert.equal(report.verdict, 'verified', JSON.stringify(report.problems));
    assert.equal(report.exitCode, 0);
    assert.equal(report.wire.verdict, 'encrypted');
    assert.deepEqual(report.nodes.map((n) => [n.node, n.verdict, n.ipsec?.keysInUse, n.wire]), [
      ['node-a', 'ok', 8, 'encrypted'], ['node-b', 'ok', 8, 'encrypted'], ['node-c', 'ok', 8, 'not-captured'],
    ]);
    assert.equal(report.cluster?.expectedKeys, 8);
    const c = calls(dir);
    const ns = c.find((a) => a[0] === 'delete')?.[2];
    assert.match(ns ?? '', /^cilium-encryption-verify-[0-9a-f]{6}$/);
    assert.ok(c.some((a) => a.includes('tcpdump') && a.includes('-Q') && a.includes('out')));
    assert.ok(!c.some((a) => a.some((x) => /secret/i.test(x))), 'the verifier must never touch Secrets');
    assert.ok(log.some((l) => /successfully rolled out/.test(l)));
  });

  it('waits for the DaemonSet rollout, printing progress', async () => {
    const { report, log, slept } = await run('ipsec-1.16-healthy', ['--wire-check', 'off'], { rolloutPending: 2 });
    assert.equal(report.verdict, 'verified');
    assert.deepEqual(log.filter((l) => /daemon set/.test(l)).slice(0, 3), [
      'daemon set "cilium" rollout: 1 out of 3 new pods have been updated',
      'daemon set "cilium" rollout: 2 out of 3 new pods have been updated',
      'daemon set "cilium" successfully rolled out (3 pods)',
    ]);
    assert.equal(slept, 10_000);
  });

  it('a rollout that does not finish in time cannot be verified (exit 2)', async () => {
    const { report } = await run('ipsec-1.16-healthy', ['--timeout', '12'], { rolloutPending: 100 });
    assert.equal(report.verdict, 'unverified');
    assert.equal(report.exitCode, 2);
    assert.match(report.error ?? '', /rollout did not finish within 12s: daemon set "cilium" rollout: 0 out of 3/);
  });

  it('an unreachable API server cannot be verified (exit 2) after a few attempts', async () => {
    const { report, dir } = await run('ipsec-1.16-healthy', [], { unreachable: true });
    assert.equal(report.exitCode, 2);
    assert.match(report.error ?? '', /cannot read DaemonSet kube-system\/cilium: kubectl exited 1: The connection to the server/);
    assert.equal(calls(dir).length, 3);
  });

  it('waits for a key rotation to settle, then verifies', async () => {
    const { report, log, dir } = await run('ipsec-1.18-rotation', ['--wire-check', 'off']);
    assert.equal(report.verdict, 'verified', JSON.stringify(report.problems));
    assert.equal(log.filter((l) => /rotation in progress/.test(l)).length, 2);
    assert.match(log.find((l) => /rotation in progress/.test(l))!, /node-a \(16 keys\), node-b \(16 keys\), node-c \(16 keys\)/);
    assert.equal(calls(dir).filter((a) => a.includes('cilium-dbg')).length, 9);
  });

  it('a rotation still running at the timeout cannot be verified, naming the nodes', async () => {
    const { report } = await run('ipsec-1.18-rotation', ['--wire-check', 'off', '--timeout', '7']);
    assert.equal(report.exitCode, 2);
    assert.deepEqual(report.problems.map((p) => p.node), ['node-a', 'node-b', 'node-c']);
    assert.match(report.warnings.join(' '), /key rotation did not settle within 7s on node-a, node-b, node-c/);
  });

  it('falls back to text for an agent without -o json, and remembers it', async () => {
    const { report, dir } = await run('ipsec-1.16-text-only', ['--wire-check', 'off']);
    assert.equal(report.verdict, 'verified', JSON.stringify(report.problems));
    assert.deepEqual(report.nodes.map((n) => n.source), ['text', 'text', 'text']);
    assert.equal(calls(dir).filter((a) => a.includes('cilium-dbg') && a.includes('json')).length, 3);
  });

  it('XFRM errors fail, naming the node and each error', async () => {
    const { report } = await run('ipsec-1.17-xfrm-errors');
    assert.equal(report.exitCode, 1);
    assert.deepEqual(report.problems.map((p) => [p.node, p.severity]), [['node-b', 'fail']]);
    assert.match(report.problems[0]!.reason, /XfrmInNoStates=2 .*XfrmInStateProtoError=1/);
    assert.equal(report.wire.verdict, 'encrypted');
  });

  it('a plaintext packet on the wire fails even when every agent looks healthy', async () => {
    const { report } = await run('ipsec-1.18-healthy', [], { wireLeak: true });
    assert.equal(report.verdict, 'not-encrypted');
    assert.equal(report.wire.verdict, 'plaintext');
    const wireProblems = report.problems.filter((p) => p.reason.startsWith('wire check'));
    assert.deepEqual(wireProblems.map((p) => p.node), ['node-a', 'node-b']);
    assert.match(wireProblems[0]!.reason, /plaintext pod-to-pod TCP 10\.0\.1\.15 > 10\.0\.2\.27 ports 40000 > 8080 inside the overlay/);
  });

  it('--wire-check off reports the wire check as skipped', async () => {
    const { report, dir } = await run('wireguard-1.20-healthy', ['--wire-check', 'off', '--node-encryption', 'false']);
    assert.equal(report.verdict, 'verified', JSON.stringify(report.problems));
    assert.deepEqual(report.wire, { verdict: 'skipped', reason: '--wire-check off' });
    assert.ok(report.nodes.every((n) => n.wire === 'skipped' && n.wireguard?.peers === 4));
    assert.ok(!calls(dir).some((a) => a[0] === 'apply'));
  });

  it('WireGuard with node encryption: workers chosen for the wire check, control-plane opt-out warned', async () => {
    const { report } = await run('wireguard-1.19-node-encryption', ['--node-encryption', 'true', '--strict-mode', 'true']);
    assert.equal(report.verdict, 'verified', JSON.stringify(report.problems));
    assert.equal(report.wire.verdict, 'encrypted');
    assert.ok('nodes' in report.wire && report.wire.nodes.map((n) => n.node).join() === 'node-b,node-c');
    assert.match('positiveControl' in report.wire ? report.wire.positiveControl : '', /^not applicable/);
    assert.ok(report.warnings.some((w) => w.startsWith('node-a: node encryption opted out')));
  });

  it('an agent that does not answer is asked again, then reported as unverifiable', async () => {
    const { report, dir } = await run('ipsec-1.19-agent-down', ['--wire-check', 'off']);
    assert.equal(report.exitCode, 2);
    assert.deepEqual(report.problems.map((p) => p.node), ['node-b']);
    assert.equal(calls(dir).filter((a) => a.includes('cilium-dbg')).length, 9);
  });

  it('a node without an agent fails; the others are judged on the agents present', async () => {
    const { report } = await run('wireguard-1.18-agent-missing', ['--wire-check', 'off']);
    assert.equal(report.exitCode, 1);
    assert.deepEqual(report.problems.map((p) => p.node), ['node-c']);
    assert.equal(report.cluster?.agentCount, 2);
  });
});
