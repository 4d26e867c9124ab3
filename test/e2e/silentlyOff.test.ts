/**
 * A cluster that has been running for a while: XFRM counters high since boot that no longer grow are
 * not a failure. Then encryption switched off behind the program's back, as it happens on real
 * clusters: the agents' ConfigMap edited and the agents restarted, or the key Secret overwritten with
 * a key the kernel refuses. Nothing here tells the simulator what to answer: it derives the agents' state from the
 * edited objects, as Cilium's agents would after their restart.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { agentFault, clearAgentFaults, kubectl, newStack, PROJECT_DIR, stackConfig, type TestStack } from "./harness";

let t: TestStack;

function run(program: string, ...args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", program, "--stack", t.name, ...args], { cwd: PROJECT_DIR, encoding: "utf8", env: process.env });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** What `kubectl rollout restart` does, and a wait until every agent pod is the new one. */
function restartAgents(): void {
  kubectl("rollout", "restart", "daemonset/cilium", "-n", t.namespace);
  kubectl("rollout", "status", "daemonset/cilium", "-n", t.namespace, "--timeout=120s");
}

describe("encryption silently off", () => {
  before(async () => {
    clearAgentFaults();
    t = await newStack("silent", stackConfig("ns-silent", { type: "ipsec", ipsec: { keyId: 1 } }));
    const up = await t.up();
    assert.equal(up.outputs.verification!.value.verdict, "verified");
  });
  after(async () => {
    await t?.remove();
  });

  it("XFRM counters high since boot but not growing are reported with their totals, not failed", () => {
    agentFault("node-b", { xfrmErrors: { XfrmInNoStates: { initial: 40, perSecond: 0 } } });
    const r = run("verifier/main.ts");
    clearAgentFaults();
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /XfrmInNoStates 40 \(\+0\)/);
  });

  it("cilium-config edited to turn IPsec off, agents restarted: drift --verify exits 2 naming every node", () => {
    kubectl("patch", "configmap", "cilium-config", "-n", t.namespace, "--type", "merge", "-p", '{"data":{"enable-ipsec":"false"}}');
    restartAgents();
    const r = run("drift/main.ts", "--verify");
    assert.equal(r.code, 2, `${r.stdout}\n${r.stderr}`);
    const text = `${r.stdout}\n${r.stderr}`;
    for (const node of ["node-a", "node-b", "node-c"])
      assert.match(text, new RegExp(`${node}[^\\n]*(mode|Disabled|plaintext)`), `${node} is not named with its reason`);

    // `pulumi up --refresh` puts the program's ConfigMap back (the release's rollout restarts the agents).
    kubectl("patch", "configmap", "cilium-config", "-n", t.namespace, "--type", "merge", "-p", '{"data":{"enable-ipsec":"true"}}');
    restartAgents();
    assert.equal(run("verifier/main.ts").code, 0);
  });

  it("the key Secret overwritten with a 16-byte key, agents restarted: verify exits 1 naming every node", () => {
    // Cilium's parser takes the line; the kernel refuses an AES-GCM key without its 4-byte salt, so no
    // XFRM state is installed. The line never leaves this process but as the Secret's data.
    const line = `1+ rfc4106(gcm(aes)) ${randomBytes(16).toString("hex")} 128`;
    const patch = JSON.stringify({ data: { keys: Buffer.from(line).toString("base64") } });
    kubectl("patch", "secret", "cilium-ipsec-keys", "-n", t.namespace, "--type", "merge", "-p", patch);
    restartAgents();
    const r = run("verifier/main.ts");
    assert.equal(r.code, 1, r.stderr);
    for (const node of ["node-a", "node-b", "node-c"]) assert.match(r.stderr, new RegExp(`FAIL [^\\n]*${node}`), `${node} is not named as failing`);
    assert.ok(!r.stdout.includes(line.split(" ")[2]!) && !r.stderr.includes(line.split(" ")[2]!), "the key appears in the verifier's output");
  });
});
