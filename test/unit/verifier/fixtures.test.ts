// The agent outputs in test/fixtures/agents are written by the generator (Cilium's own models,
// one build per version). These tests read every one with the verifier's parsers and check it
// says what the scenario's agent state, through that version's cilium-dbg, should say.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { atLeast, requireCiliumVersion } from "../../../encryption/ciliumVersion";
import { agentErrorMessage, parseAgentStatus, parseEncryptStatus } from "../../../verifier/agentStatus";
import { XFRM_STAT_FIELDS } from "../../sim/agent/render";
import { type AgentState, agentOutput, FIXTURES, loadManifest, type Manifest, scenarioNames } from "./scenarios";

// The versions generate.sh builds the generator for: the newest patch of each supported minor.
const GENERATED_VERSIONS = /^versions=\(([^)]*)\)$/m.exec(readFileSync(join(FIXTURES, "generator/generate.sh"), "utf8"))![1]!.split(" ");
const SOCKET_ERROR = 'Get "http://localhost/v1/healthz": dial unix /var/run/cilium/cilium.sock: connect: no such file or directory';

function files(dir: string, prefix = ""): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]));
}

// What the generator writes for a scenario: per node and read, one output per command.
function expectedFiles(m: Manifest): string[] {
  const out = ["scenario.json"];
  for (const [node, reads] of Object.entries(m.agents)) {
    reads.forEach((s, i) => {
      const dir = i < reads.length - 1 ? `round-${i + 1}/` : "";
      const down = s.agent === "socket-missing";
      const encryptFails = down && !atLeast(requireCiliumVersion(m.ciliumVersion), 19);
      out.push(`${dir}${node}.encrypt-status.${encryptFails ? "stderr" : "json"}`, `${dir}${node}.status.${down ? "stderr" : "json"}`);
    });
  }
  return out.sort();
}

// cilium-dbg/cmd/encrypt_status.go of the scenario's version, applied to one agent state.
function checkEncryptStatus(m: Manifest, node: string, read: number, s: AgentState): void {
  const v = requireCiliumVersion(m.ciliumVersion);
  const out = agentOutput(m.name, node, "encrypt-status", read)!;
  const where = `${m.name} ${node} read ${read}`;
  const down = s.agent === "socket-missing";
  if (!atLeast(v, 19)) {
    if (down) {
      // Fatalf("Cannot get daemon encryption status: %s") after GetHealthz fails.
      assert.equal(out.code, 1, where);
      assert.equal(agentErrorMessage(out.stderr), `Cannot get daemon encryption status: ${SOCKET_ERROR}`, where);
      return;
    }
  }
  assert.equal(out.code, 0, where);
  assert.ok(out.stdout.endsWith("}\n\n"), `${where}: command.PrintOutput leaves an empty line`);
  const st = parseEncryptStatus(out.stdout);
  const minor = v.minor;
  const mode = down ? null : minor < 19 && !["IPsec", "Wireguard"].includes(s.mode) ? "Disabled" : s.mode;
  assert.equal(st.mode, mode, where);
  assert.equal(st.msg, down ? SOCKET_ERROR : null, where);
  // Up to 1.18 the kernel is read only in IPsec mode and every XFRM state counts; from 1.19 always,
  // reqid 1 only, and the member is left out when no key is in use.
  const k = s.ipsec;
  const ipsecShown = minor < 19 ? s.mode === "IPsec" : k !== undefined && k.keys > 0;
  if (!ipsecShown) {
    assert.equal(st.ipsec, null, where);
  } else {
    const keys = (k?.keys ?? 0) + (minor < 19 ? (k?.otherReqidKeys ?? 0) : 0);
    const xfrm = Object.fromEntries(Object.entries(k?.xfrm ?? {}).filter(([, n]) => n > 0));
    const seq = !k?.maxOseq ? "N/A" : `0x${k.maxOseq.toString(16)}/${minor >= 18 ? "0xffffffffffffffff" : "0xffffffff"}`;
    assert.deepEqual(
      st.ipsec,
      {
        keysInUse: keys,
        maxSeqNumber: seq,
        errorCount: Object.values(xfrm).reduce((a, b) => a + b, 0),
        xfrmErrors: xfrm,
        decryptInterfaces: k?.decryptInterfaces ?? [],
      },
      where,
    );
    for (const name of Object.keys(xfrm)) assert.ok((XFRM_STAT_FIELDS as readonly string[]).includes(name), `${where}: ${name} is no XfrmStat field`);
  }
  const wgShown = minor < 19 ? s.mode === "Wireguard" : s.wireguard !== undefined;
  assert.deepEqual(st.wireguard, wgShown ? { interfaces: [{ name: "cilium_wg0", peerCount: s.wireguard!.peers }], nodeEncryption: null } : null, where);
}

// cilium-dbg/cmd/status.go: the agent's StatusResponse, or Hint(err) and exit 1.
function checkStatus(m: Manifest, node: string, read: number, s: AgentState): void {
  const out = agentOutput(m.name, node, "status", read)!;
  const where = `${m.name} ${node} read ${read}`;
  if (s.agent === "socket-missing") {
    assert.deepEqual([out.code, out.stderr], [1, `${SOCKET_ERROR}\nIs the agent running?\n`], where);
    return;
  }
  const st = parseAgentStatus(out.stdout);
  assert.equal(st.state, "Ok", where);
  assert.deepEqual(
    st.encryption,
    {
      mode: s.mode,
      msg: null,
      ipsec: null,
      wireguard:
        s.mode === "Wireguard" ? { interfaces: [{ name: "cilium_wg0", peerCount: s.wireguard!.peers }], nodeEncryption: s.wireguard!.nodeEncryption } : null,
    },
    where,
  );
}

describe("generated agent outputs", () => {
  const names = scenarioNames();

  it("cover every supported Cilium version, both modes and every case issue 11 names", () => {
    const versions = new Set(names.map((n) => loadManifest(n).ciliumVersion));
    assert.deepEqual([...versions].sort(), [...GENERATED_VERSIONS].sort());
    assert.deepEqual(
      GENERATED_VERSIONS.map((x) => requireCiliumVersion(x).minor),
      [16, 17, 18, 19, 20],
    );
    for (const kind of [
      "ipsec-1.17-tunnel",
      "ipsec-1.18-cumulative-counters",
      "ipsec-1.17-xfrm-errors",
      "ipsec-1.19-one-node",
      "ipsec-1.19-agent-down",
      "ipsec-1.18-agent-down",
      "ipsec-1.20-eni",
      "ipsec-1.18-rotation",
      "ipsec-1.18-other-xfrm-states",
      "ipsec-1.20-clustermesh",
      "wireguard-1.19-ciliumnode-without-node",
      "wireguard-1.20-clustermesh",
    ]) {
      assert.ok(names.includes(kind), kind);
    }
  });

  for (const name of names) {
    it(`${name}: exactly the generator's files, each saying what its agent state says`, () => {
      const m = loadManifest(name);
      assert.deepEqual(files(join(FIXTURES, name)).sort(), expectedFiles(m));
      for (const [node, reads] of Object.entries(m.agents)) {
        reads.forEach((s, i) => {
          checkEncryptStatus(m, node, i + 1, s);
          checkStatus(m, node, i + 1, s);
        });
      }
    });
  }
});
