import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { requireCiliumVersion } from "../../../encryption/ciliumVersion";
import type { EncryptionStatus } from "../../../verifier/agentStatus";
import { parseCiliumConfig } from "../../../verifier/cluster";
import {
  evaluateConfig,
  evaluateNode,
  judgeKeyId,
  type KeyIdContext,
  keyIdSince,
  type NodeContext,
  type Read,
  worst,
  xfrmMeaning,
} from "../../../verifier/evaluate";

const v = requireCiliumVersion;
const ipsecCtx = (version = "1.20.2", steady = 4, atLeast = false): NodeContext => ({
  mode: "ipsec",
  version: v(version),
  keys: { steady, atLeast, formula: "f" },
  peers: null,
  nodeEncryption: null,
  keyId: null,
});
const wgCtx = (steady = 2, nodeEncryption: boolean | null = null, atLeast = false): NodeContext => ({
  mode: "wireguard",
  version: v("1.20.2"),
  keys: null,
  peers: { steady, atLeast },
  nodeEncryption,
  keyId: null,
});
const ipsec = (keys: number, xfrm: Record<string, number> = {}, seq = "0x10/0xffffffffffffffff"): EncryptionStatus => ({
  mode: "IPsec",
  msg: null,
  wireguard: null,
  ipsec: { keysInUse: keys, maxSeqNumber: seq, errorCount: Object.values(xfrm).reduce((a, b) => a + b, 0), xfrmErrors: xfrm, decryptInterfaces: ["eth0"] },
});
const wg = (peers: number, nodeEncryption: string | null = "Disabled"): EncryptionStatus => ({
  mode: "Wireguard",
  msg: null,
  ipsec: null,
  wireguard: { interfaces: [{ name: "cilium_wg0", peerCount: peers }], nodeEncryption },
});
// Reads 5 s apart.
const reads = (...states: Array<EncryptionStatus | string>): Read[] =>
  states.map((s, i) => ({ at: i * 5000, outcome: typeof s === "string" ? { ok: false, error: s } : { ok: true, value: s } }));
const judge = (rs: Read[], ctx = ipsecCtx(), final = false) => evaluateNode("n1", "cilium-x", rs, ctx, final);

describe("IPsec keys in use", () => {
  it("property: equal to the steady count passes, up to double waits for the rotation, fewer fails, more than double waits; at the deadline waiting is unverified", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 400 }), fc.integer({ min: 0, max: 1000 }), fc.boolean(), (steady, keys, final) => {
        const r = judge(reads(ipsec(keys)), ipsecCtx("1.20.2", steady), final);
        const expected = keys === steady ? "ok" : keys < steady ? "fail" : final ? "unverified" : "pending";
        assert.equal(r.verdict, expected);
      }),
    );
  });

  it("names the rotation while it runs and when it did not settle", () => {
    assert.match(judge(reads(ipsec(8), ipsec(8))).reasons[0]!, /^key rotation in progress: 8 keys in use, 4 once settled \(f\)$/);
    assert.match(judge(reads(ipsec(8), ipsec(8)), ipsecCtx(), true).reasons[0]!, /^key rotation did not settle: 8 keys in use, 4 once settled/);
  });

  it("1.16-1.18 count every XFRM state (no reqid filter before cilium v1.19.7 encrypt_status.go filterReqID): a high count says so", () => {
    for (const ver of ["1.16.19", "1.17.16", "1.18.11"]) {
      const seq = ver === "1.18.11" ? "0x1/0xffffffffffffffff" : "0x1/0xffffffff";
      assert.match(
        judge(reads(ipsec(9, {}, seq), ipsec(9, {}, seq)), ipsecCtx(ver), true).reasons[0]!,
        /counts every XFRM state on the node, not only Cilium's/,
      );
    }
    assert.doesNotMatch(judge(reads(ipsec(9), ipsec(9)), ipsecCtx("1.19.7"), true).reasons[0]!, /counts every XFRM state/);
  });

  it('too few fails; on 1.16 a single key for several nodes is what a key line without "+" gives (ipsec_linux.go getNodeIPsecKey)', () => {
    const r = judge(reads(ipsec(1, {}, "0x1/0xffffffff"), ipsec(1, {}, "0x1/0xffffffff")), ipsecCtx("1.16.19", 4));
    assert.equal(r.verdict, "fail");
    assert.match(
      r.reasons[0]!,
      /^1 IPsec keys in use, expected 4 \(f\): states for some remote nodes are missing; on 1\.16 this is what a key line without "\+" gives/,
    );
    assert.doesNotMatch(judge(reads(ipsec(1), ipsec(1)), ipsecCtx("1.17.16", 4)).reasons[0] ?? "", /without "\+"/);
  });

  it("with Cluster Mesh (at least): more is fine, fewer still fails", () => {
    assert.equal(judge(reads(ipsec(40), ipsec(40)), ipsecCtx("1.20.2", 4, true)).verdict, "ok");
    assert.match(judge(reads(ipsec(3), ipsec(3)), ipsecCtx("1.20.2", 4, true)).reasons[0]!, /expected at least 4/);
  });

  it("1.19+ omits the ipsec member when no key is in use (encrypt_status.go dumpIPsecStatus returns nil): zero keys", () => {
    const none: EncryptionStatus = { mode: "IPsec", msg: null, ipsec: null, wireguard: null };
    assert.equal(judge(reads(none, none), ipsecCtx("1.19.7", 0)).verdict, "ok");
    assert.equal(judge(reads(none, none), ipsecCtx("1.20.2", 4)).verdict, "fail");
    // Up to 1.18 the member is always printed in IPsec mode, so its absence is not an answer of that version.
    const r = judge(reads(none, none), ipsecCtx("1.18.11", 0));
    assert.equal(r.verdict, "unverified");
    assert.match(r.reasons[0]!, /printed no ipsec member, which Cilium 1\.18 always prints/);
  });
});

describe("IPsec XFRM counters, judged by growth between reads", () => {
  it("cumulative totals that do not grow pass, and are reported with zero growth", () => {
    const r = judge(reads(ipsec(4, { XfrmInStateProtoError: 7, XfrmInNoStates: 120 }), ipsec(4, { XfrmInStateProtoError: 7, XfrmInNoStates: 120 })));
    assert.equal(r.verdict, "ok");
    assert.deepEqual(r.ipsec!.xfrm, { XfrmInNoStates: { total: 120, growth: 0 }, XfrmInStateProtoError: { total: 7, growth: 0 } });
    assert.equal(r.ipsec!.observedSeconds, 5);
  });

  it("counters all zero since boot settle on one read; non-zero ones need a second read (unverified if the check ends first)", () => {
    assert.equal(judge(reads(ipsec(4))).verdict, "ok");
    assert.equal(judge(reads(ipsec(4, { XfrmInNoStates: 3 }))).verdict, "pending");
    const r = judge(reads(ipsec(4, { XfrmInNoStates: 3 })), ipsecCtx(), true);
    assert.deepEqual(
      [r.verdict, r.reasons],
      ["unverified", ["XFRM counters are not zero and were read only once before the verification ended: whether they grow is unknown"]],
    );
  });

  it("a growing key or policy counter fails at once, with total, growth and meaning (encryption-ipsec.rst troubleshooting table)", () => {
    for (const name of ["XfrmInStateProtoError", "XfrmInTmplMismatch", "XfrmInNoPols", "XfrmOutStateSeqError", "XfrmOutPolBlock"]) {
      const r = judge(reads(ipsec(4, { [name]: 1 }), ipsec(4, { [name]: 5 })));
      assert.equal(r.verdict, "fail", name);
      assert.match(r.reasons[0]!, new RegExp(`^XFRM errors growing: ${name} \\+4 \\(total 5\\) in 5s: `));
    }
  });

  it("pod deletion and state deletion counters only warn, even when growing", () => {
    for (const name of ["XfrmInError", "XfrmFwdHdrError", "XfrmInStateInvalid"]) {
      const r = judge(reads(ipsec(4, { [name]: 1 }), ipsec(4, { [name]: 3 })));
      assert.equal(r.verdict, "ok", name);
      assert.match(r.warnings[0]!, new RegExp(`^XFRM counter ${name} grew by 2 \\(total 3\\)`));
    }
  });

  it("NoStates counters (expected around reboots) warn once they stop, and fail if still growing at the end", () => {
    const stopped = judge(reads(ipsec(4, { XfrmInNoStates: 10 }), ipsec(4, { XfrmInNoStates: 14 }), ipsec(4, { XfrmInNoStates: 14 })));
    assert.equal(stopped.verdict, "ok");
    assert.match(stopped.warnings[0]!, /^XFRM counter XfrmInNoStates grew by 4 \(total 14\) during the check, then stopped/);
    const growing = reads(ipsec(4, { XfrmOutNoStates: 1 }), ipsec(4, { XfrmOutNoStates: 2 }));
    assert.equal(judge(growing).verdict, "pending");
    const end = judge(growing, ipsecCtx(), true);
    assert.equal(end.verdict, "fail");
    assert.match(end.reasons[0]!, /^XFRM counter XfrmOutNoStates kept growing until the verification ended: XfrmOutNoStates \+1 \(total 2\)/);
  });

  it("counters the docs do not explain are judged like the NoStates ones", () => {
    assert.equal(xfrmMeaning("XfrmInBufferError").cls, "transient");
    assert.equal(judge(reads(ipsec(4, { XfrmInBufferError: 1 }), ipsec(4, { XfrmInBufferError: 9 })), ipsecCtx(), true).verdict, "fail");
  });

  it("a counter that goes down means the node rebooted between reads: read again", () => {
    const r = judge(reads(ipsec(4, { XfrmInNoStates: 9 }), ipsec(4, { XfrmInNoStates: 0 })));
    assert.equal(r.verdict, "pending");
    assert.match(r.reasons[0]!, /went down between reads/);
  });
});

describe("IPsec sequence numbers", () => {
  it('no exhaustion warning however high: every supported version uses 64-bit ESN (1.16 with "+", always from 1.17)', () => {
    for (const [ver, seq] of [
      ["1.16.19", "0xfffffff0/0xffffffff"],
      ["1.17.16", "0xfffffff0/0xffffffff"],
      ["1.18.11", "0xfffffff0/0xffffffffffffffff"],
    ] as const) {
      const r = judge(reads(ipsec(4, {}, seq), ipsec(4, {}, seq)), ipsecCtx(ver));
      assert.deepEqual([r.verdict, r.warnings], ["ok", []], ver);
    }
  });

  it("a printed limit of another version is a warning (maxSequenceNumber prints 64 bits from 1.18)", () => {
    assert.match(
      judge(reads(ipsec(4, {}, "0x1/0xffffffff"), ipsec(4, {}, "0x1/0xffffffff")), ipsecCtx("1.19.7")).warnings[0]!,
      /prints the sequence limit of Cilium 1\.17 or earlier, not of 1\.19\.7/,
    );
    assert.equal(judge(reads(ipsec(4, {}, "N/A"), ipsec(4, {}, "N/A")), ipsecCtx("1.16.19")).verdict, "ok");
    assert.equal(judge(reads(ipsec(4, {}, "lots"), ipsec(4, {}, "lots"))).verdict, "unverified");
  });
});

describe("agents that do not answer", () => {
  const down = 'Get "http://localhost/v1/healthz": dial unix /var/run/cilium/cilium.sock: connect: no such file or directory';
  it("1.19+: exit 0, no mode, the socket error in msg: asked again, then unverified with that message", () => {
    const st: EncryptionStatus = { mode: null, msg: down, ipsec: ipsec(8).ipsec, wireguard: null };
    assert.equal(judge(reads(st)).verdict, "pending");
    const r = judge(reads(st, st, st), ipsecCtx("1.19.7", 8));
    assert.deepEqual([r.verdict, r.reasons], ["unverified", [`could not read "cilium-dbg encrypt status": agent did not answer: ${down}`]]);
  });

  it("1.16-1.18: the error printed on stderr (exit 1) is the reason", () => {
    const err = `Cannot get daemon encryption status: ${down}`;
    assert.equal(judge(reads(err, err), ipsecCtx("1.18.11")).verdict, "pending");
    assert.deepEqual(judge(reads(err), ipsecCtx("1.18.11"), true).reasons, [`could not read "cilium-dbg encrypt status": ${err}`]);
  });

  it("1.19+: an IPsec agent whose kernel state could not be read (no ipsec member, the error in msg) is asked again, not judged as holding no key", () => {
    const st: EncryptionStatus = { mode: "IPsec", msg: "cannot get xfrm state: operation not permitted", ipsec: null, wireguard: null };
    assert.equal(judge(reads(st), ipsecCtx("1.20.2", 4)).verdict, "pending");
    assert.deepEqual(judge(reads(st, st, st), ipsecCtx("1.20.2", 4)).reasons, [
      'could not read "cilium-dbg encrypt status": no IPsec state read: cannot get xfrm state: operation not permitted',
    ]);
  });

  it("an answer after failed reads counts from the answers only", () => {
    assert.equal(judge(reads("timeout", ipsec(4), ipsec(4))).verdict, "ok");
  });

  it("no agent pod fails at once: nothing encrypts that node", () => {
    const r = evaluateNode("n1", null, [], ipsecCtx(), false);
    assert.deepEqual([r.verdict, r.reasons], ["fail", ["no running Cilium agent on this node, so nothing encrypts its traffic"]]);
  });
});

describe("mode", () => {
  it("another mode fails on the first read, with the agent message", () => {
    const r = judge(reads({ mode: "Disabled", msg: "x", ipsec: null, wireguard: null }));
    assert.deepEqual([r.verdict, r.reasons], ["fail", ["encryption mode is Disabled, expected IPsec (agent says: x)"]]);
  });
});

describe("WireGuard", () => {
  it("one read settles it: peers = the other CiliumNodes with a key", () => {
    assert.equal(judge(reads(wg(2)), wgCtx(2)).verdict, "ok");
    const r = judge(reads(wg(1)), wgCtx(2));
    assert.deepEqual(
      [r.verdict, r.reasons],
      ["fail", ["cilium_wg0 has 1 peer(s), expected 2 (the other CiliumNodes with a WireGuard key): traffic to the missing ones is not encrypted"]],
    );
  });

  it("more peers than known nodes warns (a stale peer), unless Cluster Mesh makes it a lower bound", () => {
    const r = judge(reads(wg(3)), wgCtx(2));
    assert.equal(r.verdict, "ok");
    assert.match(r.warnings[0]!, /has 3 peers, 2 CiliumNodes with a WireGuard key explain/);
    assert.deepEqual(judge(reads(wg(5)), wgCtx(2, null, true)).warnings, []);
  });

  it("no cilium_wg0 fails, naming what the agent says", () => {
    const r = judge(reads({ mode: "Wireguard", msg: "failed to get device: file does not exist", ipsec: null, wireguard: null }), wgCtx());
    assert.match(r.reasons[0]!, /^no cilium_wg0 interface in the agent's WireGuard status \(agent says: failed to get device/);
  });

  it("node encryption: Enabled, OptedOut (warning) or Disabled as asserted", () => {
    assert.equal(judge(reads(wg(2, "Enabled")), wgCtx(2, true)).verdict, "ok");
    assert.match(judge(reads(wg(2, "OptedOut")), wgCtx(2, true)).warnings[0]!, /opted out/);
    assert.equal(judge(reads(wg(2, "Disabled")), wgCtx(2, true)).verdict, "fail");
    assert.equal(judge(reads(wg(2, "Enabled")), wgCtx(2, false)).verdict, "fail");
    assert.equal(judge(reads(wg(2, null)), wgCtx(2, true)).verdict, "unverified");
  });
});

describe("verdicts and cilium-config", () => {
  it("the worst verdict wins", () => {
    assert.equal(worst([]), "ok");
    assert.equal(worst(["ok", "pending", "unverified"]), "unverified");
    assert.equal(worst(["unverified", "fail", "pending"]), "fail");
  });

  it("IPv4 is required for IPsec before 1.18 only (v1.17.16 daemon_main.go; gone in v1.18.11)", () => {
    const cm = (ver: string) => parseCiliumConfig(JSON.stringify({ data: { "enable-ipsec": "true", "enable-ipv4": "false", "enable-ipv6": "true" } }), v(ver));
    const exp = (ver: string) => ({ mode: "ipsec" as const, version: v(ver), nodeEncryption: null, strictMode: null });
    assert.deepEqual(evaluateConfig(cm("1.17.16"), exp("1.17.16")), ["cilium-config disables IPv4, which IPsec requires before 1.18"]);
    assert.deepEqual(evaluateConfig(cm("1.18.11"), exp("1.18.11")), []);
  });
});

// The SPI an agent announces in its CiliumNode is LocalNode.EncryptionKey (cilium v1.16.19-v1.20.2
// pkg/nodediscovery/nodediscovery.go mutateNodeResource), set by the key file watcher when it loads
// a key (pkg/datapath/linux/ipsec/ipsec_linux.go keyfileWatcher: node.SetIPsecKeyIdentity up to
// v1.18.11, publishPendingSPI in v1.19.7, publishCurrentSPI in v1.20.2).
describe("the key id a node announces (--key-id)", () => {
  const keyCtx = (announced: KeyIdContext["announced"], since: number | null = 0, keyWatcher = true): NodeContext => ({
    ...ipsecCtx(),
    keyId: { expected: 2, announced, since, keyWatcher },
  });

  it("property: a node announcing another key id is never ok, whatever its agent reports", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 15 }).filter((m) => m !== 2),
        fc.integer({ min: 0, max: 12 }),
        fc.boolean(),
        fc.boolean(),
        (m, keys, watcher, final) => {
          const r = judge(reads(ipsec(keys), ipsec(keys)), keyCtx(m, null, watcher), final);
          assert.notEqual(r.verdict, "ok");
          if (!watcher) assert.equal(r.verdict, "fail");
        },
      ),
    );
  });

  it("property: announcing the expected id since before the last read, the verdict is the one without the check", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 12 }), fc.integer({ min: 0, max: 5000 }), fc.boolean(), (keys, since, final) => {
        const rs = reads(ipsec(keys), ipsec(keys));
        const withCheck = judge(rs, keyCtx(2, since), final);
        const without = judge(rs, ipsecCtx(), final);
        assert.deepEqual([withCheck.verdict, withCheck.reasons], [without.verdict, without.reasons]);
      }),
    );
  });

  it("waits while the agent announces the old id, then names it: the agent has not loaded the new key", () => {
    const waiting = judge(reads(ipsec(4)), keyCtx(1, null));
    assert.deepEqual(
      [waiting.verdict, waiting.reasons],
      ["pending", ["announces key id 1 in its CiliumNode, expected 2: waiting for the agent to load the new key"]],
    );
    const ended = judge(reads(ipsec(4)), keyCtx(1, null), true);
    assert.deepEqual([ended.verdict, ended.reasons], ["unverified", ["still announces key id 1 (expected 2): the agent has not loaded the new key"]]);
    assert.match(judge(reads(ipsec(4)), keyCtx(0, null), true).reasons[0]!, /^still announces no key id \(expected 2\)/);
  });

  it("reads taken before the CiliumNode showed the new id are the old key's: read again, or unverified at the end", () => {
    const rs = reads(ipsec(4), ipsec(4)); // at 0 and 5000
    assert.deepEqual([judge(rs, keyCtx(2, 5000)).verdict, judge(rs, keyCtx(2, 5001)).verdict], ["ok", "pending"]);
    assert.match(judge(rs, keyCtx(2, 5001)).reasons[0]!, /^announces key id 2 since the agent's last read: reading it again/);
    assert.match(judge(rs, keyCtx(2, 5001), true).reasons[0]!, /^announced key id 2 only after the agent's last read/);
    assert.equal(judge(rs, keyCtx(2, 5001), true).verdict, "unverified");
  });

  it("without the key watcher the old id never changes by itself: fail at once (ipsec_linux.go startKeyfileWatcher returns early)", () => {
    const r = judge(reads(ipsec(4)), keyCtx(1, null, false));
    assert.equal(r.verdict, "fail");
    assert.match(r.reasons[0]!, /enable-ipsec-key-watcher "false": the agent reads the key file only when it starts/);
    assert.equal(judge(reads(ipsec(4), ipsec(4)), keyCtx(2, 0, false)).verdict, "ok");
  });

  it("no CiliumNode: wait for one, then unverified; no CiliumNode API: unverified at once", () => {
    assert.equal(judge(reads(ipsec(4)), keyCtx(null)).verdict, "pending");
    assert.match(
      judge(reads(ipsec(4)), keyCtx(null), true).reasons[0]!,
      /^no CiliumNode for this node: the key id its agent uses \(expected 2\) cannot be read/,
    );
    const r = judge(reads(ipsec(4)), keyCtx("not served"));
    assert.deepEqual([r.verdict, r.reasons.length], ["unverified", 1]);
    assert.match(r.reasons[0]!, /CiliumNode API is not served/);
  });

  it("a worse verdict of the agent stands, and a node without an agent fails for that alone", () => {
    const wrongMode = judge(reads({ ...wg(2), mode: "Wireguard" }), keyCtx(1, null));
    assert.deepEqual([wrongMode.verdict, wrongMode.reasons.length], ["fail", 1]);
    const noAgent = evaluateNode("n1", null, [], keyCtx(1, null), false);
    assert.deepEqual([noAgent.verdict, noAgent.reasons], ["fail", ["no running Cilium agent on this node, so nothing encrypts its traffic"]]);
  });

  it("judgeKeyId is silent once the expected id is announced and read after", () => {
    assert.equal(judgeKeyId({ expected: 3, announced: 3, since: 10, keyWatcher: true }, 10, false), null);
  });

  it("property: since is the time of the first of the trailing lists that show the expected id", () => {
    const lists = fc.array(fc.dictionary(fc.constantFrom("a", "b", "c"), fc.integer({ min: 0, max: 3 })), { minLength: 1, maxLength: 8 });
    fc.assert(
      fc.property(lists, (ls) => {
        let since = new Map<string, number>();
        for (const [i, l] of ls.entries()) since = keyIdSince(since, new Map(Object.entries(l)), 2, i * 10);
        for (const node of ["a", "b", "c"]) {
          let first: number | undefined;
          for (let i = ls.length - 1; i >= 0 && ls[i]![node] === 2; i--) first = i * 10;
          assert.equal(since.get(node), first);
        }
      }),
    );
  });
});
