import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { calls, prepareFakeCluster, type FakeOptions } from './fakeCluster';

const ROOT = join(__dirname, '../../..');
const FAKE_KUBECTL_DIR = join(__dirname, 'fake-kubectl');
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function cli(argv: string[], scenario = 'ipsec-1.18-healthy', fake: FakeOptions = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'verifier-cli-'));
  dirs.push(dir);
  prepareFakeCluster(dir, scenario, fake);
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'verifier/main.ts', ...argv], {
    cwd: ROOT,
    env: { ...process.env, PATH: `${FAKE_KUBECTL_DIR}:${dirname(process.execPath)}:${process.env.PATH}`, FAKE_KUBE_DIR: dir },
    encoding: 'utf8',
    timeout: 120_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, dir };
}

const base = ['--namespace', 'kube-system', '--kubeconfig', '/tmp/none.kubeconfig', '--context', 'e2e'];

describe('verifier/main.ts as the Pulumi Command runs it', () => {
  it('healthy IPsec with the wire check: exit 0, exactly one JSON document on stdout, summary on stderr', () => {
    const r = cli(['--mode', 'ipsec', '--cilium-version', '1.18.4', ...base]);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { verdict: string; wire: { verdict: string }; nodes: unknown[] };
    assert.equal(report.verdict, 'verified');
    assert.equal(report.wire.verdict, 'encrypted');
    assert.equal(report.nodes.length, 3);
    assert.match(r.stderr, /VERIFIED: ipsec encryption is on and working \(exit 0\)/);
    assert.match(r.stderr, /node-a: ok, keys 8\/8, errors 0, wire encrypted/);
    assert.ok(calls(r.dir).every((a) => a[0] === '--kubeconfig=/tmp/none.kubeconfig' && a[1] === '--context=e2e'));
  });

  // Real processes query the agents concurrently, so which node draws the stand-in's faulty
  // output varies; fixtures.test.ts pins the node for the pure pipeline.
  it('XFRM errors: exit 1, the node and the errors named on stderr', () => {
    const r = cli(['--mode', 'ipsec', '--cilium-version', '1.17.6', '--wire-check', 'off', ...base], 'ipsec-1.17-xfrm-errors');
    assert.equal(r.code, 1);
    assert.equal((JSON.parse(r.stdout) as { verdict: string }).verdict, 'not-encrypted');
    assert.equal(r.stderr.match(/FAIL node-[abc]: 3 XFRM error\(s\): XfrmInNoStates=2/g)?.length, 1, r.stderr);
  });

  it('mid-rotation then settled: waits with progress on stderr, exit 0', () => {
    const r = cli(['--mode', 'ipsec', '--cilium-version', '1.18.4', '--wire-check', 'off', '--poll-interval', '0.05', ...base], 'ipsec-1.18-rotation');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /IPsec key rotation in progress on node-a \(16 keys\)/);
  });

  it('bad arguments: exit 2, the flag named, still one JSON report on stdout', () => {
    const r = cli(['--mode', 'gre', '--cilium-version', '1.18.4', ...base]);
    assert.equal(r.code, 2);
    const report = JSON.parse(r.stdout) as { verdict: string; error: string };
    assert.equal(report.verdict, 'unverified');
    assert.equal(report.error, 'invalid arguments: --mode must be one of ipsec, wireguard; got "gre"');
    assert.match(r.stderr, /node --import tsx verifier\/main.ts --mode <ipsec\|wireguard>/);
    assert.deepEqual(calls(r.dir), []);
  });
});
