import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { EncryptionStatus } from '../../../verifier/agentStatus';
import { describeXfrmErrors, evaluateNode, worst, type Expectations } from '../../../verifier/evaluate';

const ipsecExp: Expectations = { mode: 'ipsec', nodeCount: 3, keys: { steady: 4, formula: '2 per remote node per family' }, nodeEncryption: null };
const status = (keysInUse: number, extra: Partial<EncryptionStatus['ipsec'] & object> = {}): EncryptionStatus => ({
  mode: 'IPsec', msg: null, format: 'json', wireguard: null,
  ipsec: { keysInUse, maxSeqNumber: '0x10/0xffffffff', errorCount: 0, xfrmErrors: {}, decryptInterfaces: ['eth0'], ...extra },
});
const judge = (s: EncryptionStatus, exp = ipsecExp) => evaluateNode({ node: 'n', pod: 'p', encrypt: { ok: true, value: s }, agentStatus: null }, exp);

describe('per-node evaluation', () => {
  it('property: keys equal to the steady count pass, up to double is a rotation, anything else fails', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 0, max: 500 }), (steady, keys) => {
        const v = judge(status(keys), { ...ipsecExp, keys: { steady, formula: 'f' } }).verdict;
        assert.equal(v, keys === steady ? 'ok' : keys > steady && keys <= 2 * steady ? 'rotating' : 'fail');
      }),
    );
  });

  it('warns from half the sequence space on, with the percentage', () => {
    assert.deepEqual(judge(status(4, { maxSeqNumber: '0x7fffffff/0xffffffff' })).warnings, []);
    const w = judge(status(4, { maxSeqNumber: '0xfff00000/0xffffffff' }));
    assert.equal(w.verdict, 'ok');
    assert.match(w.warnings[0]!, /99\.97% used: rotate the key soon/);
    assert.equal(judge(status(4, { maxSeqNumber: 'garbage' })).verdict, 'unverified');
  });

  it('an error count without named counters still fails', () => {
    const r = judge(status(4, { errorCount: 2 }));
    assert.deepEqual([r.verdict, r.reasons], ['fail', ['2 XFRM error(s)']]);
  });

  it('names XFRM counters with their usual cause, and marks unknown ones', () => {
    assert.equal(
      describeXfrmErrors({ XfrmOutStateSeqError: 1, XfrmInTmplMismatch: 2, XfrmFancyNew: 3 }),
      'XfrmFancyNew=3 (not a known XfrmStat counter), XfrmInTmplMismatch=2, XfrmOutStateSeqError=1 (sequence number exhausted: rotate the key)',
    );
  });

  it('the worst verdict wins', () => {
    assert.equal(worst([]), 'ok');
    assert.equal(worst(['ok', 'rotating', 'unverified']), 'unverified');
    assert.equal(worst(['unverified', 'fail', 'rotating']), 'fail');
  });

  it('WireGuard: a missing cilium_wg0 fails; an unreadable node-encryption status cannot be verified', () => {
    const wgExp: Expectations = { mode: 'wireguard', nodeCount: 2, keys: null, nodeEncryption: true };
    const wg = (name: string): EncryptionStatus => ({ mode: 'Wireguard', msg: null, format: 'json', ipsec: null, wireguard: { interfaces: [{ name, peerCount: 1 }], nodeEncryption: null } });
    const missing = evaluateNode({ node: 'n', pod: 'p', encrypt: { ok: true, value: wg('wg0') }, agentStatus: { ok: true, value: { mode: 'Wireguard', nodeEncryption: 'Enabled', peers: 1, msg: null } } }, wgExp);
    assert.deepEqual(missing.reasons, ['no cilium_wg0 interface in the agent\'s WireGuard status']);
    const unread = evaluateNode({ node: 'n', pod: 'p', encrypt: { ok: true, value: wg('cilium_wg0') }, agentStatus: { ok: false, error: 'kubectl timed out' } }, wgExp);
    assert.equal(unread.verdict, 'unverified');
    assert.match(unread.reasons[0]!, /kubectl timed out/);
  });
});
