/**
 * Every supported Cilium minor other than the default (which ipsecLifecycle.test.ts takes through its
 * whole life), each with its own real chart: IPsec up and verified, a key rotation verified again,
 * WireGuard up and verified. The simulated agents answer as that minor's agent would for what the
 * chart deployed. Split over two files (minors-*.test.ts) so that they run side by side.
 */
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { parseKeyLine } from "../../encryption/keyLine";
import { CHART_VERSION, CILIUM_VERSIONS, kubectlJson, livePsk, newStack, stackConfig, type TestStack } from "./harness";

// A short rotation window, so that the verifier's wait for the old key's states to go (the agents'
// reclaimer runs every minute) fits the test.
const ipsec = (keyId: number) => ({ type: "ipsec", ipsec: { keyId, keyRotationDuration: "20s" } });

/** The non-default minors, every other one from `half` (0 or 1). */
export function minorMatrix(half: 0 | 1): void {
  const versions = CILIUM_VERSIONS.filter((v) => v !== CHART_VERSION).filter((_, i) => i % 2 === half);
  for (const version of versions) {
    const label = `m${version.replace(/\./g, "-")}`;

    describe(`Cilium ${version}`, () => {
      const stacks: TestStack[] = [];
      after(async () => {
        for (const t of stacks) await t.remove();
      });

      it("IPsec: up is verified, and so is a rotation", async () => {
        const t = await newStack(`${label}-ipsec`, stackConfig(`ns-${label}-ipsec`, ipsec(1), {}, version));
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
}
