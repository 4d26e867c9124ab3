/**
 * Native routing on a dual-stack cluster, with the values Cilium's chart requires for it, on the
 * default minor: IPsec with IPv4 and IPv6 verified, on the wire too.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { CHART_VERSION, kubectlJson, newStack, stackConfig, type TestStack } from "./harness";

const ipsec = (keyId: number) => ({ type: "ipsec", ipsec: { keyId } });

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
