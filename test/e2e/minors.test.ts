/**
 * Every supported Cilium minor other than the default (which ipsecLifecycle.test.ts takes through its
 * whole life), each with its own real chart: IPsec up and verified, a key rotation verified again,
 * WireGuard up and verified. Plus one native-routing dual-stack cluster on the default minor. The
 * simulated agents answer as that minor's agent would for what the chart deployed.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { parseKeyLine } from "../../encryption/keyLine";
import { CHART_VERSION, CILIUM_VERSIONS, kubectlJson, livePsk, newStack, stackConfig, type TestStack } from "./harness";

const ipsec = (keyId: number) => ({ type: "ipsec", ipsec: { keyId } });

for (const version of CILIUM_VERSIONS.filter((v) => v !== CHART_VERSION)) {
  const label = `m${version.replace(/\./g, "-")}`;

  describe(`Cilium ${version}`, () => {
    const stacks: TestStack[] = [];
    after(async () => {
      for (const t of stacks) await t.remove();
    });

    it("IPsec: up is verified, and so is a rotation", async () => {
      const t = await newStack(`${label}-ipsec`, stackConfig(`ns-${label}`, ipsec(1), {}, version));
      stacks.push(t);
      const up = await t.up();
      const report = up.outputs.verification!.value;
      assert.equal(report.verdict, "verified", JSON.stringify(report.summary ?? report));
      assert.equal(report.mode, "ipsec");
      assert.equal(up.outputs.release!.value.chartVersion, version);
      // The agents really run this minor: the DaemonSet's image is the chart's own.
      const ds = kubectlJson("get", "daemonset", "cilium", "-n", t.namespace);
      assert.match(ds.spec.template.spec.containers[0].image, new RegExp(`:v${version.replace(/\./g, "\\.")}(@|$)`));

      t.setConfig(stackConfig(t.namespace, ipsec(2), {}, version));
      const rotated = await t.up();
      assert.equal(parseKeyLine(livePsk(t.namespace).line).keyId, 2);
      assert.equal(rotated.outputs.verification!.value.verdict, "verified");
      // Helm's chart objects are cluster-wide: free them for the WireGuard stack.
      await t.remove();
      stacks.pop();
    });

    it("WireGuard: up is verified", async () => {
      const t = await newStack(`${label}-wg`, stackConfig(`ns-${label}-wg`, { type: "wireguard" }, {}, version));
      stacks.push(t);
      const up = await t.up();
      const report = up.outputs.verification!.value;
      assert.equal(report.verdict, "verified", JSON.stringify(report.summary ?? report));
      assert.equal(report.mode, "wireguard");
      const config = kubectlJson("get", "configmap", "cilium-config", "-n", t.namespace);
      assert.equal(config.data["enable-wireguard"], "true");
    });
  });
}

describe(`Cilium ${CHART_VERSION}, native routing, dual stack`, () => {
  let t: TestStack;
  after(async () => {
    await t?.remove();
  });

  it("IPsec over native routing with IPv4 and IPv6 is verified", async () => {
    // The pod CIDRs toolchain/cluster.sh gives the simulated nodes; the chart refuses native routing
    // without them (install/kubernetes/cilium/templates/validate.yaml).
    const values = {
      routingMode: "native",
      autoDirectNodeRoutes: true,
      ipv4NativeRoutingCIDR: "198.19.0.0/16",
      ipv6NativeRoutingCIDR: "2001:db8:1::/48",
      ipv6: { enabled: true },
    };
    const config = stackConfig("ns-native", ipsec(1));
    t = await newStack("native", { ...config, cilium: { ...config.cilium, values } });
    const up = await t.up();
    const live = kubectlJson("get", "configmap", "cilium-config", "-n", t.namespace);
    assert.equal(live.data["routing-mode"], "native");
    assert.equal(live.data["enable-ipv6"], "true");
    const report = up.outputs.verification!.value;
    assert.equal(report.verdict, "verified", JSON.stringify(report.summary ?? report));
  });
});
