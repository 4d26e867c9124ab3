/**
 * Refusals with the real engine: bad config and an unannounced mode switch fail before anything in
 * the cluster changes (checked in the cluster, not only by the exit), and the announced switch works.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { clearAgentFaults, exists, helmReleaseValues, kubectlJson, livePsk, newStack, stackConfig, type TestStack } from "./harness";

const stacks: TestStack[] = [];
after(async () => {
  for (const t of stacks) await t.remove();
});

function untouched(namespace: string) {
  assert.ok(!exists("secret", "cilium-ipsec-keys", namespace), "a key secret was written");
  assert.ok(!exists("daemonset", "cilium", namespace), "Cilium was installed");
  assert.equal(kubectlJson("get", "secret", "-n", namespace, "-l", "owner=helm").items.length, 0, "a Helm release was recorded");
}

describe("bad config", () => {
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ["keyId 16", { type: "ipsec", ipsec: { keyId: 16 } }, /cilium-encryption:encryption\.ipsec\.keyId: must be an integer from 1 to 15/],
    ["unknown type", { type: "gre" }, /cilium-encryption:encryption\.type: must be one of ipsec, wireguard/],
    ["an IPsec option on wireguard", { type: "wireguard", ipsec: { keyId: 1 } }, /encryption\.ipsec: is an IPsec option, but encryption\.type is wireguard/],
  ];
  for (const [name, encryption, message] of cases) {
    it(`${name}: up fails with the message and the cluster is untouched`, async () => {
      const t = await newStack(`bad${stacks.length}`, stackConfig(`ns-bad${stacks.length}`, encryption));
      stacks.push(t);
      await assert.rejects(t.up(), message);
      untouched(t.namespace);
      const state = await t.stack.exportStack();
      assert.equal((state.deployment.resources ?? []).filter((r: any) => r.type !== "pulumi:pulumi:Stack").length, 0);
    });
  }

  it("a chart version older than 1.16 fails at preview", async () => {
    const t = await newStack("oldchart", stackConfig("ns-oldchart", { type: "wireguard" }));
    stacks.push(t);
    const config = stackConfig(t.namespace, { type: "wireguard" });
    t.setConfig({ ...config, cilium: { ...(config.cilium as object), version: "1.15.7" } });
    await assert.rejects(t.preview(), /cilium-encryption:cilium\.version: Cilium 1\.15\.7 is not supported; supported: 1\.16\.x to 1\.20\.x/);
    untouched(t.namespace);
  });
});

describe("mode switch", () => {
  it("without the opt-in is refused at preview and up, and changes nothing", async () => {
    clearAgentFaults();
    const t = await newStack("switch", stackConfig("ns-switch", { type: "ipsec", ipsec: { keyId: 1 } }));
    stacks.push(t);
    await t.up();
    const before = { psk: livePsk(t.namespace), revision: helmReleaseValues(t.namespace).revision };

    t.setConfig(stackConfig(t.namespace, { type: "wireguard" }));
    await assert.rejects(t.preview(), /this stack runs ipsec; switching to wireguard in place has broken clusters \(cilium\/cilium#44691/);
    await assert.rejects(t.up(), /allowModeSwitch/);
    assert.deepEqual(livePsk(t.namespace), before.psk);
    assert.equal(helmReleaseValues(t.namespace).revision, before.revision);
    assert.equal(helmReleaseValues(t.namespace).values.encryption.type, "ipsec");
  });

  it("with the opt-in, the release switches to WireGuard and the IPsec secret goes away", async () => {
    const t = stacks.at(-1)!;
    t.setConfig(stackConfig(t.namespace, { type: "ipsec", ipsec: { keyId: 1 }, allowModeSwitch: true }));
    const arm = await t.up();
    assert.equal(arm.outputs.ipsecSecretProtected!.value, false);
    assert.ok(exists("secret", "cilium-ipsec-keys", t.namespace), "arming the switch keeps the key");

    t.setConfig(stackConfig(t.namespace, { type: "wireguard", allowModeSwitch: true }));
    const up = await t.up();
    assert.equal(helmReleaseValues(t.namespace).values.encryption.type, "wireguard");
    assert.equal(kubectlJson("get", "configmap", "cilium-config", "-n", t.namespace).data["enable-wireguard"], "true");
    assert.ok(!exists("secret", "cilium-ipsec-keys", t.namespace), "the IPsec secret is gone");
    assert.equal(up.outputs.verification!.value.verdict, "verified");
    assert.equal(up.outputs.mode!.value, "wireguard");
    await t.stack.destroy({ color: "never" });
    untouched(t.namespace);
  });
});
