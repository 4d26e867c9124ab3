import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import { currentRelease, decodeStorageSecret, HelmRecordError, type StorageSecret } from "../../adopt/helmRecord";

/** A storage Secret as Helm writes it (helm v3.18.6 pkg/storage/driver/util.go encodeRelease) and kubectl shows it. */
function storageSecret(release: Record<string, unknown>, opts: { gzip?: boolean; labels?: Record<string, string> } = {}): StorageSecret {
  const json = Buffer.from(JSON.stringify(release));
  const helmEncoded = (opts.gzip === false ? json : gzipSync(json)).toString("base64");
  const name = String(release.name);
  return {
    metadata: {
      name: `sh.helm.release.v1.${name}.v${release.version}`,
      namespace: "kube-system",
      labels: { owner: "helm", name, status: String((release.info as any)?.status), version: String(release.version), ...opts.labels },
    },
    data: { release: Buffer.from(helmEncoded).toString("base64") },
  };
}

const release = (version: number, status: string, config: unknown, chartVersion = "1.20.2") => ({
  name: "cilium",
  namespace: "kube-system",
  version,
  info: { status, description: "Upgrade complete" },
  chart: { metadata: { name: "cilium", version: chartVersion }, templates: [] },
  config,
  manifest: "---\n",
});

describe("Helm release records", () => {
  it("decodes the user-supplied values, chart and status of a record", () => {
    const config = { ipam: { mode: "kubernetes" }, hubble: { relay: { enabled: true } }, nodeSelector: { "kubernetes.io/os": "linux" } };
    const r = decodeStorageSecret(storageSecret(release(3, "deployed", config, "1.19.7")));
    assert.deepEqual(r, { name: "cilium", namespace: "kube-system", revision: 3, status: "deployed", chartName: "cilium", chartVersion: "1.19.7", config });
  });

  it("reads records Helm stored before it compressed them", () => {
    assert.deepEqual(decodeStorageSecret(storageSecret(release(1, "deployed", { a: 1 }), { gzip: false })).config, { a: 1 });
  });

  it("takes a release without user values as an empty config", () => {
    assert.deepEqual(decodeStorageSecret(storageSecret(release(1, "deployed", undefined))).config, {});
  });

  it("the current release is the highest revision, whatever the order or status of the others", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 8 }), (revisions) => {
        const secrets = revisions.map((v) => storageSecret(release(v, "superseded", { rev: v })));
        const top = Math.max(...revisions);
        assert.equal(currentRelease(secrets, "cilium")?.revision, top);
        assert.deepEqual(currentRelease(secrets, "cilium")?.config, { rev: top });
      }),
    );
  });

  it("ignores records of other releases and Secrets Helm did not write", () => {
    const other = { ...storageSecret(release(9, "deployed", {})), metadata: { name: "x", labels: { owner: "helm", name: "hubble", version: "9" } } };
    const notHelm = { ...storageSecret(release(8, "deployed", {})), metadata: { name: "y", labels: { name: "cilium", version: "8" } } };
    assert.equal(currentRelease([other, notHelm], "cilium"), undefined);
    assert.equal(currentRelease([other, notHelm, storageSecret(release(2, "deployed", {}))], "cilium")?.revision, 2);
  });

  it("keeps a __proto__ key of the stored values as data, as JSON.parse does, and reads no field Object.prototype has", () => {
    // What `helm upgrade --set __proto__.polluted=yes` stores: Go has no prototypes.
    const stored = storageSecret(JSON.parse(JSON.stringify(release(2, "deployed", {})).replace('"config":{}', '"config":{"__proto__":{"polluted":"yes"}}')));
    const r = decodeStorageSecret(stored);
    assert.deepEqual(Object.keys(r.config), ["__proto__"]);
    assert.equal(Object.getPrototypeOf(r.config), Object.prototype);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
    const bare = storageSecret({ name: "cilium", version: 1, chart: { metadata: { version: "1.20.2" } } });
    assert.equal(decodeStorageSecret(bare).status, "unknown");
    const inherited = storageSecret({ name: "cilium", version: 1, chart: { metadata: { version: "1.20.2" } }, __proto__: { info: { status: "deployed" } } });
    assert.equal(decodeStorageSecret(inherited).status, "unknown", "a field only the prototype has is not the record's");
  });

  it("a damaged record is an error that names the Secret and shows none of its contents", () => {
    const secretValue = "hunter2-hunter2";
    const bad: StorageSecret = {
      metadata: { name: "sh.helm.release.v1.cilium.v4", namespace: "kube-system" },
      data: { release: Buffer.from(`{"config":"${secretValue}"`).toString("base64") },
    };
    assert.throws(
      () => decodeStorageSecret(bad),
      (e: unknown) => e instanceof HelmRecordError && e.message.includes("sh.helm.release.v1.cilium.v4") && !e.message.includes(secretValue),
    );
    const noChart = storageSecret({ name: "cilium", version: 1, config: { password: secretValue } });
    assert.throws(
      () => decodeStorageSecret(noChart),
      (e: unknown) => e instanceof HelmRecordError && !e.message.includes(secretValue),
    );
  });
});
