import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { AgentOutputError, agentErrorMessage, maxSeqLimit, parseAgentStatus, parseEncryptStatus } from "../../../verifier/agentStatus";
import { agentOutput } from "./scenarios";

// The outputs are the generator's (test/fixtures/agents/generator, Cilium's models per version);
// fixtures.test.ts checks every one of them against the state it was generated from.
const out = (scenario: string, node: string, command: "encrypt-status" | "status", read = 1) => agentOutput(scenario, node, command, read)!;

describe("cilium-dbg encrypt status -o json", () => {
  it("IPsec, 1.16 (models.EncryptionStatus v1.16.19, printed by command.PrintOutput)", () => {
    const s = parseEncryptStatus(out("ipsec-1.16-healthy", "node-a", "encrypt-status").stdout);
    assert.deepEqual(s, {
      mode: "IPsec",
      msg: null,
      wireguard: null,
      ipsec: { keysInUse: 4, maxSeqNumber: "0x1e3/0xffffffff", errorCount: 0, xfrmErrors: {}, decryptInterfaces: ["eth0", "eth1", "eth2"] },
    });
  });

  it("XFRM counters and their sum (1.17)", () => {
    const s = parseEncryptStatus(out("ipsec-1.17-xfrm-errors", "node-b", "encrypt-status", 2).stdout);
    assert.deepEqual([s.ipsec!.errorCount, s.ipsec!.xfrmErrors], [7, { XfrmInNoStates: 2, XfrmInStateProtoError: 5 }]);
  });

  it("1.19 with no key in use: the ipsec member is omitted", () => {
    assert.deepEqual(parseEncryptStatus(out("ipsec-1.19-one-node", "node-a", "encrypt-status").stdout), {
      mode: "IPsec",
      msg: null,
      ipsec: null,
      wireguard: null,
    });
  });

  it("1.19 with the agent unreachable: no mode, the kernel state, the socket error in msg", () => {
    const s = parseEncryptStatus(out("ipsec-1.19-agent-down", "node-b", "encrypt-status").stdout);
    assert.equal(s.mode, null);
    assert.equal(s.msg, 'Get "http://localhost/v1/healthz": dial unix /var/run/cilium/cilium.sock: connect: no such file or directory');
    assert.equal(s.ipsec?.keysInUse, 8);
  });

  it("WireGuard up to 1.18 (copied from the agent) and from 1.19 (read from the kernel, with the listen port)", () => {
    assert.deepEqual(parseEncryptStatus(out("wireguard-1.16-healthy", "node-a", "encrypt-status").stdout).wireguard, {
      interfaces: [{ name: "cilium_wg0", peerCount: 1 }],
      nodeEncryption: null,
    });
    assert.deepEqual(parseEncryptStatus(out("wireguard-1.20-healthy", "node-a", "encrypt-status").stdout).wireguard, {
      interfaces: [{ name: "cilium_wg0", peerCount: 4 }],
      nodeEncryption: null,
    });
  });

  it("property: absent counts and lists are 0 and empty, as omitempty leaves them", () => {
    fc.assert(
      fc.property(fc.option(fc.nat(), { nil: undefined }), fc.option(fc.nat(), { nil: undefined }), (keys, errors) => {
        const ipsec: Record<string, unknown> = { "decrypt-interfaces": null };
        if (keys !== undefined) ipsec["keys-in-use"] = keys;
        if (errors !== undefined) ipsec["error-count"] = errors;
        const s = parseEncryptStatus(JSON.stringify({ mode: "IPsec", ipsec }));
        assert.deepEqual([s.ipsec!.keysInUse, s.ipsec!.errorCount, s.ipsec!.decryptInterfaces], [keys ?? 0, errors ?? 0, []]);
      }),
    );
  });

  it("refuses what is not the model", () => {
    assert.throws(() => parseEncryptStatus(""), /empty encrypt status output/);
    assert.throws(() => parseEncryptStatus("Encryption: IPsec"), AgentOutputError);
    assert.throws(() => parseEncryptStatus('{"mode": "IPsec", "ipsec": {"keys-in-use": -1}}'), /ipsec\.keys-in-use/);
    assert.throws(() => parseEncryptStatus("[]"), /encrypt status JSON/);
  });
});

describe("cilium-dbg status -o json", () => {
  it("WireGuard: the agent state and the encryption member with node encryption", () => {
    const s = parseAgentStatus(out("wireguard-1.19-node-encryption", "node-a", "status").stdout);
    assert.equal(s.state, "Ok");
    assert.deepEqual(s.encryption, {
      mode: "Wireguard",
      msg: null,
      ipsec: null,
      wireguard: { interfaces: [{ name: "cilium_wg0", peerCount: 3 }], nodeEncryption: "OptedOut" },
    });
  });

  it("IPsec: the status collector reports the mode only", () => {
    assert.deepEqual(parseAgentStatus(out("ipsec-1.20-healthy", "node-a", "status").stdout).encryption, {
      mode: "IPsec",
      msg: null,
      ipsec: null,
      wireguard: null,
    });
  });

  it("no encryption member before the collector has probed it", () => {
    assert.deepEqual(parseAgentStatus('{"cilium": {"state": "Warning"}}'), { state: "Warning", encryption: null });
  });
});

describe("a failed exec", () => {
  it("keeps what cilium-dbg printed, without \"Error: \" and kubectl's trailer (1.16-1.18 encrypt status, every version's status)", () => {
    const enc = out("ipsec-1.18-agent-down", "node-b", "encrypt-status");
    assert.equal(enc.code, 1);
    assert.equal(
      agentErrorMessage(`${enc.stderr}command terminated with exit code 1\n`),
      'Cannot get daemon encryption status: Get "http://localhost/v1/healthz": dial unix /var/run/cilium/cilium.sock: connect: no such file or directory',
    );
    const st = out("wireguard-1.18-agent-down", "node-b", "status");
    assert.equal(
      agentErrorMessage(st.stderr),
      'Get "http://localhost/v1/healthz": dial unix /var/run/cilium/cilium.sock: connect: no such file or directory Is the agent running?',
    );
  });
});

describe("max sequence number", () => {
  it("the printed limit: 32 bits up to 1.17, 64 from 1.18; N/A before any packet", () => {
    assert.equal(maxSeqLimit(out("ipsec-1.17-tunnel", "node-a", "encrypt-status").stdout.match(/"max-seq-number": "([^"]+)"/)![1]!), 0xffffffffn);
    assert.equal(maxSeqLimit("0x3e8/0xffffffffffffffff"), 0xffffffffffffffffn);
    assert.equal(maxSeqLimit("N/A"), null);
    assert.equal(maxSeqLimit(null), null);
    assert.throws(() => maxSeqLimit("12/34"), /cannot read max sequence number "12\/34"/);
  });
});
