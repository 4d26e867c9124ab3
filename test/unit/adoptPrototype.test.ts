/**
 * index.ts under Pulumi mocks, adopting a release whose stored values hold keys JavaScript treats
 * specially (`helm upgrade --set __proto__.polluted=yes` stores one): Object.prototype is never
 * touched, the run says what to do, and the next run works.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { type LiveCluster, useClusterReader } from "../../adopt/cluster";
import { decodeStorageSecret } from "../../adopt/helmRecord";
import { asPulumiConfig, runProgram, startProgram } from "./mockProgram";

const RELEASE = "kubernetes:helm.sh/v3:Release";
const polluted = () => (({}) as Record<string, unknown>).polluted;
const wireguard = asPulumiConfig({ encryption: { type: "wireguard" } });

/** The cluster as kubectl would read it: Cilium's release stored by Helm with this values JSON. */
function clusterWithValues(configJson: string): LiveCluster {
  const record = `{"name":"cilium","namespace":"kube-system","version":3,"info":{"status":"deployed"},"chart":{"metadata":{"name":"cilium","version":"1.20.2"}},"config":${configJson},"manifest":""}`;
  const data = Buffer.from(gzipSync(Buffer.from(record)).toString("base64")).toString("base64");
  const release = decodeStorageSecret({ metadata: { name: "sh.helm.release.v1.cilium.v3", namespace: "kube-system" }, data: { release: data } });
  return { release, agents: [{ namespace: "kube-system", name: "cilium", helmRelease: "cilium" }] };
}

afterEach(() => useClusterReader(async () => ({ agents: [] })));

describe("adopting release values with prototype keys", () => {
  for (const [name, json, path] of [
    ["at the top", '{"__proto__":{"polluted":"yes"},"ipam":{"mode":"kubernetes"}}', "__proto__"],
    ["nested", '{"hubble":{"relay":{"__proto__":{"polluted":"yes"}}}}', "hubble.relay.__proto__"],
    ["in a list", '{"tolerations":[{"__proto__":{"polluted":"yes"}}]}', "tolerations[0].__proto__"],
  ] as const) {
    it(`refuses a __proto__ key ${name} with what to do, leaves Object.prototype alone, and the next run works`, async () => {
      useClusterReader(async () => clusterWithValues(json));
      const run = startProgram(wireguard);
      const error = await run.done.then(
        () => undefined,
        (e: Error) => e,
      );
      assert.ok(error !== undefined, "the adoption went ahead");
      assert.match(
        error.message,
        new RegExp(
          `refusing this change:\\n.*the release kube-system/cilium sets ${path.replace(/[.[\]]/g, "\\$&")}: a key named "__proto__" cannot be carried: .*; remove it`,
        ),
      );
      assert.deepEqual(
        run.resources.filter((r) => r.type === RELEASE),
        [],
      );
      assert.equal(polluted(), undefined);
      useClusterReader(async () => ({ agents: [] }));
      const next = await runProgram(wireguard);
      assert.equal(next.one(RELEASE).inputs.values.encryption.type, "wireguard");
      assert.equal(polluted(), undefined);
    });
  }

  it("refuses values nested far past the limit with the path, not a stack overflow", async () => {
    const depth = 20_000;
    useClusterReader(async () => clusterWithValues(`${'{"a":'.repeat(depth)}null${"}".repeat(depth)}`));
    const run = startProgram(wireguard);
    const error = await run.done.then(
      () => undefined,
      (e: Error) => e,
    );
    assert.ok(error !== undefined, "the adoption went ahead");
    assert.match(error.message, /the release kube-system\/cilium sets a\.a\.a\.a\.a\.a…: nests more than 100 levels deep/);
    assert.doesNotMatch(error.message, /call stack/);
  });

  it("adopts constructor and prototype keys as plain values and hands them to Helm unchanged", async () => {
    useClusterReader(async () => clusterWithValues('{"constructor":{"prototype":{"polluted":"yes"}},"podLabels":{"prototype":"x"}}'));
    const run = await runProgram(wireguard);
    const values = run.one(RELEASE).inputs.values;
    assert.deepEqual(values.constructor, { prototype: { polluted: "yes" } });
    assert.deepEqual(values.podLabels, { prototype: "x" });
    assert.equal(values.encryption.type, "wireguard");
    assert.equal(polluted(), undefined);
  });
});

describe("stack values with prototype keys", () => {
  it("are refused before anything is registered, and the next run works", async () => {
    const config = { ...wireguard, "cilium-encryption:cilium": '{"values":{"__proto__":{"polluted":"yes"},"hubble":{"__proto__":{"polluted":"yes"}}}}' };
    const run = startProgram(config);
    const error = await run.done.then(
      () => undefined,
      (e: Error) => e,
    );
    assert.match(error?.message ?? "", /cilium-encryption:cilium\.values\.__proto__: a key named "__proto__" cannot be carried/);
    assert.match(error?.message ?? "", /cilium-encryption:cilium\.values\.hubble\.__proto__: a key named "__proto__" cannot be carried/);
    assert.deepEqual(run.resources, []);
    assert.equal(polluted(), undefined);
    assert.equal((await runProgram(wireguard)).one(RELEASE).inputs.values.encryption.type, "wireguard");
  });

  it("carry constructor and prototype keys as plain values", async () => {
    const config = { ...wireguard, "cilium-encryption:cilium": '{"values":{"constructor":{"prototype":{"polluted":"yes"}}}}' };
    const values = (await runProgram(config)).one(RELEASE).inputs.values;
    assert.deepEqual(values.constructor, { prototype: { polluted: "yes" } });
    assert.equal(polluted(), undefined);
  });
});
