import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { adoptedValues, describeChanges, valueChanges } from "../../adopt/values";
import { type CiliumVersion, parseCiliumVersion } from "../../encryption/ciliumVersion";
import { type EncryptionValuesInput, encryptionValues, leafPaths, type Values } from "../../encryption/helmValues";

const v = (text: string) => parseCiliumVersion(text) as CiliumVersion;
const ipsec: EncryptionValuesInput = { type: "ipsec", secretName: "cilium-ipsec-keys", keyFile: "keys", keyRotationDuration: "5m" };
const wireguard: EncryptionValuesInput = { type: "wireguard", nodeEncryption: false, persistentKeepalive: "0s" };
const V = v("1.20.2");

/** Helm values a user could have set: nested objects of scalars and arrays, never under `encryption`. */
const userValues: fc.Arbitrary<Values> = fc.letrec((tie) => ({
  tree: fc.dictionary(
    fc.stringMatching(/^[a-z][a-zA-Z0-9.-]{0,8}$/).filter((k) => k !== "encryption" && k !== "rollOutCiliumPods" && !k.startsWith("extra")),
    fc.oneof({ depthSize: "small" }, fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 2 }), tie("tree")),
    { maxKeys: 4 },
  ),
})).tree as fc.Arbitrary<Values>;

describe("values of an adopted release", () => {
  it("keeps every value outside the encryption settings exactly and sets ours (property)", () => {
    fc.assert(
      fc.property(userValues, fc.constantFrom(ipsec, wireguard), (live, mode) => {
        const ours = encryptionValues(V, mode);
        const { values, removed, problems } = adoptedValues(V, live, {}, ours);
        assert.deepEqual(problems, []);
        assert.equal(removed.size, 0);
        const changed = valueChanges(live, values).map((c) => c.path);
        const ourPaths = [...leafPaths(ours).keys()];
        assert.deepEqual(
          changed.filter((p) => !ourPaths.includes(p)),
          [],
          "a value other than ours changed",
        );
        for (const [path, value] of leafPaths(ours)) assert.deepEqual(leafPaths(values).get(path), value, path);
      }),
    );
  });

  it("an adopted release that already has our values changes nothing (no-op adoption)", () => {
    fc.assert(
      fc.property(userValues, (live) => {
        const ours = encryptionValues(V, ipsec);
        const first = adoptedValues(V, live, {}, ours).values;
        assert.deepEqual(valueChanges(first, adoptedValues(V, first, {}, ours).values), []);
      }),
    );
  });

  it("stack values go over the release's and ours over both", () => {
    const live = { hubble: { enabled: true, relay: { enabled: true } }, encryption: { enabled: false } };
    const { values } = adoptedValues(V, live, { hubble: { relay: { enabled: false } } }, encryptionValues(V, wireguard));
    assert.deepEqual(values.hubble, { enabled: true, relay: { enabled: false } });
    assert.deepEqual((values.encryption as Values).enabled, true);
  });

  it("removes encryption settings of the other mode and says why, keeping those of this mode", () => {
    const live = {
      encryption: { enabled: true, type: "wireguard", nodeEncryption: true, wireguard: { persistentKeepalive: "25s" } },
      ipam: { mode: "kubernetes" },
    };
    const { values, removed } = adoptedValues(v("1.19.7"), live, {}, encryptionValues(v("1.19.7"), ipsec));
    assert.deepEqual([...removed.keys()].sort(), ["encryption.nodeEncryption", "encryption.wireguard.persistentKeepalive"]);
    assert.match(removed.get("encryption.nodeEncryption")!, /wireguard option/);
    assert.equal((values.encryption as Values).nodeEncryption, undefined);
    assert.deepEqual(values.ipam, { mode: "kubernetes" });
    const kept = adoptedValues(v("1.19.7"), { encryption: { ipsec: { encryptedOverlay: true } } }, {}, encryptionValues(v("1.19.7"), ipsec));
    assert.equal(kept.removed.size, 0);
    assert.equal(((kept.values.encryption as Values).ipsec as Values).encryptedOverlay, true);
  });

  it("refuses values outside encryption that would switch the agent's encryption behind the chart's back, without showing them", () => {
    const live = { extraConfig: { "enable-ipsec": "false" } };
    const { problems } = adoptedValues(V, live, {}, encryptionValues(V, ipsec));
    assert.equal(problems.length > 0, true);
    assert.ok(
      problems.some((p) => p.includes("extraConfig")),
      problems.join("\n"),
    );
  });

  it("keys with dots (node selectors, annotations) survive whole", () => {
    const live = { nodeSelector: { "kubernetes.io/os": "linux" }, podAnnotations: { "a.b/c": "d" } };
    const { values } = adoptedValues(V, live, {}, encryptionValues(V, ipsec));
    assert.deepEqual(values.nodeSelector, live.nodeSelector);
    assert.deepEqual(values.podAnnotations, live.podAnnotations);
    assert.deepEqual(
      valueChanges(live, values)
        .map((c) => c.path)
        .filter((p) => !p.startsWith("encryption.") && p !== "rollOutCiliumPods"),
      [],
    );
  });
});

describe("adopted values with keys JavaScript treats specially", () => {
  const polluted = () => (({}) as Record<string, unknown>).polluted;

  it("refuses a __proto__ key stored by helm --set, anywhere, without it reaching Object.prototype", () => {
    for (const json of [
      '{"__proto__":{"polluted":"yes"}}',
      '{"hubble":{"__proto__":{"polluted":"yes"}}}',
      '{"encryption":{"__proto__":{"polluted":"yes"}}}',
      '{"extraEnv":[{"__proto__":{"polluted":"yes"}}]}',
    ]) {
      const live = JSON.parse(json) as Values;
      const { problems } = adoptedValues(V, live, {}, encryptionValues(V, ipsec));
      assert.equal(problems.length, 1, json);
      assert.match(problems[0]!, /^(hubble\.|encryption\.|extraEnv\[0\]\.)?__proto__: a key named "__proto__" cannot be carried: .*; remove it$/, json);
      valueChanges(live, {});
      describeChanges(valueChanges({}, live), new Map());
      assert.equal(polluted(), undefined, json);
    }
  });

  it("keeps constructor and prototype keys as plain values of their own", () => {
    const live = JSON.parse('{"constructor":{"prototype":{"polluted":"yes"}},"hubble":{"prototype":{"polluted":"yes"}}}') as Values;
    const { values, problems } = adoptedValues(V, live, { constructor: { x: 1 } }, encryptionValues(V, ipsec));
    assert.deepEqual(problems, []);
    assert.deepEqual(values.constructor, { prototype: { polluted: "yes" }, x: 1 });
    assert.deepEqual((values.hubble as Values).prototype, { polluted: "yes" });
    assert.equal(Object.getPrototypeOf(values), Object.prototype);
    assert.deepEqual(
      valueChanges(live, values)
        .map((c) => c.path)
        .filter((p) => !p.startsWith("encryption.") && p !== "rollOutCiliumPods"),
      ["constructor.x"],
    );
    assert.equal(polluted(), undefined);
  });

  it("refuses release values nested deeper than the program can carry, and walks them without overflowing", () => {
    const depth = 50_000;
    const live = JSON.parse(`{"podAnnotations":${'{"a":'.repeat(depth)}1${"}".repeat(depth)}}`) as Values;
    const { problems } = adoptedValues(V, live, {}, encryptionValues(V, ipsec));
    assert.deepEqual(problems, [
      "podAnnotations.a.a.a.a.a…: nests more than 100 levels deep; allowed: at most 100 (Cilium's chart values nest 10, and the Pulumi SDK overflows its stack on values about 1,000 levels deep)",
    ]);
    assert.equal(valueChanges(live, live).length, 0);
    assert.equal(valueChanges({}, live)[0]!.path.split(".").length, depth + 1);
  });
});

describe("describing the value changes for the preview", () => {
  it("shows encryption values and hides every other value the release's users set", () => {
    const before = { encryption: { enabled: false }, hubble: { tls: { key: "SECRET-KEY" } }, ipam: { mode: "kubernetes" } };
    const after = { encryption: { enabled: true, type: "ipsec" }, hubble: { tls: { key: "OTHER" } }, rollOutCiliumPods: true };
    const lines = describeChanges(valueChanges(before, after), new Map([["ipam.mode", "why"]]));
    assert.deepEqual(lines, [
      "encryption.enabled: false → true",
      'encryption.type: set to "ipsec"',
      "hubble.tls.key: (value not shown) → (value not shown)",
      "ipam.mode: removed (was (value not shown)): why",
      "rollOutCiliumPods: set to true",
    ]);
    assert.ok(!lines.join("\n").includes("SECRET-KEY"));
  });
});
