/**
 * Verifier rules that only a real deployment can show, on a one-node cluster of Cilium 1.19: no IPsec
 * key in use (no remote node) is healthy although 1.19's `encrypt status` then omits its ipsec member;
 * an agent that does not answer leaves the node unverified with the agent's own message.
 */
import "./oneNode";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { agentFault, CILIUM_VERSIONS, clearAgentFaults, kubectlJson, newStack, PROJECT_DIR, stackConfig, type TestStack } from "./harness";

const VERSION = CILIUM_VERSIONS.find((v) => v.startsWith("1.19."))!;
let t: TestStack;

function verify(): { code: number; report: any; stderr: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", "verifier/main.ts", "--stack", t.name], { cwd: PROJECT_DIR, encoding: "utf8", env: process.env });
  return { code: r.status ?? -1, report: JSON.parse(r.stdout), stderr: r.stderr };
}

describe(`one node, Cilium ${VERSION}`, () => {
  before(async () => {
    clearAgentFaults();
    const config = stackConfig("ns-one", { type: "ipsec", ipsec: { keyId: 1 } }, {}, VERSION);
    // The chart's two operator replicas must run on distinct nodes; one node holds one.
    t = await newStack("one", { ...config, cilium: { ...config.cilium, values: { operator: { replicas: 1 } } } });
  });
  after(async () => {
    clearAgentFaults();
    await t?.remove();
  });

  it("IPsec with no remote node, so no key in use, is verified", async () => {
    assert.equal(kubectlJson("get", "nodes").items.length, 1);
    const up = await t.up();
    const report = up.outputs.verification!.value;
    assert.equal(report.verdict, "verified", JSON.stringify(report));
    assert.equal(report.nodeCounts.ok, 1);
  });

  it("an agent that does not answer leaves the node unverified, with the agent's message", () => {
    agentFault("node-a", { agentDown: true });
    const r = verify();
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /UNVERIFIED node-a[^\n]*cilium\.sock: connect: connection refused/);
  });
});
