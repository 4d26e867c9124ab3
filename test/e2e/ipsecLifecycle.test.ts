/**
 * An IPsec stack through its life with the real engine: up, no-op up and preview, no PSK anywhere it
 * must not be, rotation in place, a verification that fails and one that converges, destroy.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { after, before, describe, it } from "node:test";
import { parseKeyLine } from "../../encryption/keyLine";
import {
  agentCalls,
  agentFault,
  backendText,
  clearAgentFaults,
  exists,
  helmReleaseValues,
  kubectlJson,
  livePsk,
  newStack,
  PROJECT_DIR,
  stackConfig,
  type TestStack,
} from "./harness";

// A short rotation window, so that the verifier's wait for the old key's states to go (the agents'
// reclaimer runs every minute) fits the test; the default 5m is what production uses.
const ipsec = (keyId: number) => ({ type: "ipsec", ipsec: { keyId, keyRotationDuration: "20s" } });

/** Operations that change something; "read" is the stack's reference to its own last outputs. */
function changes(ops: Record<string, number> | undefined): Record<string, number> {
  return Object.fromEntries(Object.entries(ops ?? {}).filter(([op, n]) => op !== "same" && op !== "read" && n > 0));
}

describe("ipsec stack, end to end", () => {
  let t: TestStack;
  let firstUid = "";
  let firstHex = "";

  before(async () => {
    clearAgentFaults();
    t = await newStack("ipsec", stackConfig("ns-ipsec", ipsec(1)));
  });
  after(async () => {
    clearAgentFaults();
    await t?.remove();
  });

  it("up writes the key secret, installs Cilium with IPsec on and reports the verification", async () => {
    const up = await t.up();
    assert.equal(up.summary.result, "succeeded");
    const { line, uid } = livePsk(t.namespace);
    const key = parseKeyLine(line);
    assert.equal(key.keyId, 1);
    assert.equal(key.hex.length, 40, "AES-128-GCM: 20 random bytes");
    firstUid = uid;
    firstHex = key.hex;

    const helm = helmReleaseValues(t.namespace);
    assert.deepEqual(helm.values.encryption, {
      enabled: true,
      type: "ipsec",
      ipsec: { secretName: "cilium-ipsec-keys", keyFile: "keys", keyRotationDuration: "20s", keyWatcher: true },
    });
    const config = kubectlJson("get", "configmap", "cilium-config", "-n", t.namespace);
    assert.equal(config.data["enable-ipsec"], "true");
    assert.equal(config.data["ipsec-key-file"], "/etc/ipsec/keys");
    const ds = kubectlJson("get", "daemonset", "cilium", "-n", t.namespace);
    assert.ok(ds.spec.template.spec.volumes.some((v: any) => v.secret?.secretName === "cilium-ipsec-keys"));

    const report = up.outputs.verification!.value;
    assert.equal(report.verdict, "verified");
    assert.equal(report.mode, "ipsec");
    assert.equal(report.nodeCounts.ok, 3);
    assert.equal(report.wire?.verdict, "encrypted", "the wire check saw ESP between the nodes and no plaintext pod traffic");
    assert.equal(up.outputs.mode!.value, "ipsec");
    assert.deepEqual(up.outputs.release!.value.status, "deployed");
  });

  it("a second up and a preview change nothing", async () => {
    const again = await t.up();
    assert.deepEqual(changes(again.summary.resourceChanges), {});
    const preview = await t.preview({ expectNoChanges: true });
    assert.deepEqual(changes(preview.changeSummary), {});
  });

  it("the PSK appears nowhere but in the cluster's Secret", () => {
    const places: Record<string, string> = {
      "engine events": JSON.stringify(t.events),
      "engine output": t.output.join(""),
      "state backend": backendText(),
      "Helm release record": helmReleaseValues(t.namespace).raw,
    };
    for (const [where, text] of Object.entries(places)) {
      assert.ok(text.length > 0, `${where}: nothing captured`);
      assert.ok(!text.includes(firstHex), `PSK found in ${where}`);
    }
  });

  it("bumping keyId updates the secret in place with a new key and re-runs the verification", async () => {
    const callsBefore = agentCalls();
    t.setConfig(stackConfig(t.namespace, ipsec(2)));
    const up = await t.up();
    const { line, uid } = livePsk(t.namespace);
    const key = parseKeyLine(line);
    assert.equal(uid, firstUid, "same Secret object: updated, not deleted and recreated");
    assert.equal(key.keyId, 2);
    assert.notEqual(key.hex, firstHex);
    assert.ok(agentCalls() > callsBefore, "the verifier asked the agents again");
    assert.equal(up.outputs.verification!.value.verdict, "verified");
    assert.equal(up.outputs.keyId!.value, 2);
  });

  it("a failing verification fails up with its message; a later good up converges", async () => {
    // A key problem on one node: XfrmInStateProtoError growing (the docs' "wrong key" counter). A
    // new release revision (one operator replica) re-runs the verification.
    agentFault("node-b", { xfrmErrors: { XfrmInStateProtoError: { initial: 0, perSecond: 5 } } });
    const base = stackConfig(t.namespace, ipsec(2));
    t.setConfig({ ...base, cilium: { ...base.cilium, values: { operator: { replicas: 1 } } } });
    await assert.rejects(t.up(), /FAIL node-b: XFRM errors growing: XfrmInStateProtoError/);
    assert.equal(helmReleaseValues(t.namespace).values.operator.replicas, 1, "the release change itself was applied");

    clearAgentFaults();
    const up = await t.up();
    assert.equal(up.outputs.verification!.value.verdict, "verified");
    const again = await t.up();
    assert.deepEqual(changes(again.summary.resourceChanges), {});
  });

  it("destroy is blocked by the secret's protection, and removes everything once it is lifted", async () => {
    await assert.rejects(t.stack.destroy({ color: "never" }), /protect/);
    assert.ok(exists("secret", "cilium-ipsec-keys", t.namespace), "protected secret survived");
    execFileSync("pulumi", ["state", "unprotect", "--all", "--yes", "--stack", t.name], { cwd: PROJECT_DIR, stdio: "ignore" });
    await t.stack.destroy({ color: "never" });
    assert.ok(!exists("secret", "cilium-ipsec-keys", t.namespace));
    assert.ok(!exists("daemonset", "cilium", t.namespace));
    assert.ok(!exists("configmap", "cilium-config", t.namespace));
    assert.equal(kubectlJson("get", "secret", "-n", t.namespace, "-l", "owner=helm,name=cilium").items.length, 0);
  });
});
