import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { AgentOutputError, parseAgentStatus, parseEncryptStatus, parseEncryptStatusText, parseMaxSeq } from '../../../verifier/agentStatus';
import {
  CLI_DISABLED_JSON, DOC_IPSEC_TEXT, DOC_WG_STATUS_120, ISSUE_WG_STATUS_NODEENC, ipsecJson, ipsecText, wgJson, wgStatusJson, wgStatusText, wgText,
} from '../../fixtures/agents/generate';

describe('cilium-dbg encrypt status', () => {
  it('reads the documented IPsec text sample', () => {
    const s = parseEncryptStatus(DOC_IPSEC_TEXT);
    assert.equal(s.format, 'text');
    assert.equal(s.mode, 'IPsec');
    assert.deepEqual(s.ipsec, { keysInUse: 4, maxSeqNumber: '0x1e3/0xffffffff', errorCount: 0, xfrmErrors: {}, decryptInterfaces: ['eth0', 'eth1', 'eth2'] });
  });

  it('reads the trailing-space text of cilium/cilium#30294 (empty interface list, N/A seq)', () => {
    const sample = 'Encryption: IPsec                     \nDecryption interface(s): \nKeys in use: 1                         \nMax Seq. Number: N/A\nErrors: 0   \n';
    const s = parseEncryptStatus(sample);
    assert.deepEqual(s.ipsec, { keysInUse: 1, maxSeqNumber: 'N/A', errorCount: 0, xfrmErrors: {}, decryptInterfaces: [] });
  });

  it('reads the cilium-cli JSON samples, absent counts meaning 0', () => {
    const s = parseEncryptStatus('{\n  "ipsec": {\n    "decrypt-interfaces": [],\n    "keys-in-use": 1,\n    "max-seq-number": "N/A"\n  },\n  "mode": "IPsec"\n}');
    assert.equal(s.format, 'json');
    assert.deepEqual(s.ipsec, { keysInUse: 1, maxSeqNumber: 'N/A', errorCount: 0, xfrmErrors: {}, decryptInterfaces: [] });
    const d = parseEncryptStatus(CLI_DISABLED_JSON);
    assert.equal(d.mode, 'Disabled');
    assert.equal(d.ipsec, null);
  });

  it('names every XFRM error, whatever order the text lists them in', () => {
    const errs = { XfrmInNoStates: 2, XfrmInStateProtoError: 1 };
    for (const order of [['XfrmInNoStates', 'XfrmInStateProtoError'], ['XfrmInStateProtoError', 'XfrmInNoStates']]) {
      const s = parseEncryptStatus(ipsecText({ keys: 4, seq: '0x77c/0xffffffff', errors: errs }, order));
      assert.deepEqual(s.ipsec?.xfrmErrors, errs);
      assert.equal(s.ipsec?.errorCount, 3);
    }
  });

  it('reads WireGuard text and JSON; a missing peer-count is 0', () => {
    const t = parseEncryptStatus(wgText('node-a', 2));
    assert.deepEqual(t.wireguard, { interfaces: [{ name: 'cilium_wg0', peerCount: 2 }], nodeEncryption: null });
    const j = parseEncryptStatus(wgJson('node-a', 0));
    assert.deepEqual(j.wireguard?.interfaces, [{ name: 'cilium_wg0', peerCount: 0 }]);
  });

  it('reads the legacy pre-models JSON', () => {
    const s = parseEncryptStatus(JSON.stringify({ 'encryption-type': 'IPsec', 'ipsec-keys-in-use': 6, 'ipsec-max-seq-number': '0x10/0xffffffff', 'ipsec-errors-count': 1, 'xfrm-errors': { XfrmOutPolBlock: 1 } }));
    assert.equal(s.format, 'json-legacy');
    assert.deepEqual(s.ipsec, { keysInUse: 6, maxSeqNumber: '0x10/0xffffffff', errorCount: 1, xfrmErrors: { XfrmOutPolBlock: 1 }, decryptInterfaces: [] });
    const wg = parseEncryptStatus(JSON.stringify({ 'encryption-type': 'Wireguard', 'wireguard-interfaces': [{ 'interface-name': 'cilium_wg0', 'peer-count': 3 }] }));
    assert.deepEqual(wg.wireguard?.interfaces, [{ name: 'cilium_wg0', peerCount: 3 }]);
  });

  it('property: the text and JSON forms of one status parse to the same values', () => {
    const xfrm = fc.dictionary(fc.constantFrom('XfrmInNoStates', 'XfrmInError', 'XfrmOutPolBlock', 'XfrmFwdHdrError'), fc.integer({ min: 1, max: 1e6 }));
    fc.assert(
      fc.property(fc.nat(10_000), fc.bigInt({ min: 0n, max: 0xffffffffn }), xfrm, fc.array(fc.constantFrom('eth0', 'eth1', 'ens5'), { minLength: 1, maxLength: 3 }), (keys, seq, errors, ifaces) => {
        const n = { keys, seq: seq === 0n ? 'N/A' : `0x${seq.toString(16)}/0xffffffff`, errors, ifaces };
        const a = parseEncryptStatus(ipsecText(n));
        const b = parseEncryptStatus(ipsecJson(n));
        assert.deepEqual({ ...a, format: null }, { ...b, format: null });
      }),
      { numRuns: 200 },
    );
  });

  it('rejects what it cannot read, with the reason', () => {
    const bad: Array<[string, RegExp]> = [
      ['', /empty/],
      ['Error: Cannot get status\n', /unexpected line/],
      ['Keys in use: 4\n', /no "Encryption:" line/],
      ['Encryption: IPsec\nKeys in use: four\n', /"Keys in use" is not a count/],
      ['Encryption: IPsec\nErrors: 1\n\tXfrmInNoStates: -1\n', /not a count/],
      ['{"mode": "IPsec", "ipsec": {"keys-in-use": -2}}', /keys-in-use/],
      ['{"mode": 3}', /mode/],
      ['{"mode": "IPsec"', /not valid JSON/],
    ];
    for (const [text, re] of bad) assert.throws(() => parseEncryptStatus(text), (e: unknown) => e instanceof AgentOutputError && re.test(e.message), text);
    assert.throws(() => parseEncryptStatusText('Encryption: \n'), /no mode/);
  });
});

describe('cilium-dbg status encryption', () => {
  it('reads the documented Encryption lines (tabwriter gaps vary)', () => {
    assert.deepEqual(parseAgentStatus(DOC_WG_STATUS_120), { mode: 'Wireguard', nodeEncryption: 'Disabled', peers: 4, msg: null });
    assert.deepEqual(parseAgentStatus(ISSUE_WG_STATUS_NODEENC), { mode: 'Wireguard', nodeEncryption: 'Enabled', peers: 3, msg: null });
    assert.deepEqual(parseAgentStatus('KVStore:  Ok   Disabled\nEncryption:\tIPsec\nCluster health: 2/2 reachable\n'), { mode: 'IPsec', nodeEncryption: null, peers: null, msg: null });
    assert.deepEqual(parseAgentStatus('Encryption:\tWireguard\t[cilium_wg0 (Pubkey: GsIGt1Juo6p8gR93driyMD5FwFu2uOBBYGVsZtfQxho=, Port: 51871, Peers: 1)]'), { mode: 'Wireguard', nodeEncryption: null, peers: 1, msg: null });
  });

  it('JSON and text forms agree', () => {
    for (const enc of ['Enabled', 'Disabled', 'OptedOut']) {
      assert.deepEqual(parseAgentStatus(wgStatusJson('node-x', 2, enc)), parseAgentStatus(wgStatusText('node-x', 2, enc)));
    }
  });

  it('errors without an Encryption line or field', () => {
    assert.throws(() => parseAgentStatus('Cilium: Ok\n'), /no "Encryption:" line/);
    assert.throws(() => parseAgentStatus('{"cilium": {}}'), /no "encryption" field/);
  });
});

describe('max sequence number', () => {
  it('parses used/limit, N/A as nothing sent yet, rejects other text', () => {
    assert.deepEqual(parseMaxSeq('0x1e3/0xffffffff'), { current: 0x1e3n, limit: 0xffffffffn });
    assert.equal(parseMaxSeq('N/A'), null);
    assert.throws(() => parseMaxSeq('483/4294967295'), /cannot read/);
    assert.throws(() => parseMaxSeq('0x1/0x0'), /zero limit/);
  });
});
