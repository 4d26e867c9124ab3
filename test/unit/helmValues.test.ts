import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { parseCiliumVersion, type CiliumVersion } from "../../encryption/ciliumVersion";
import { ciliumValues, encryptionValues, leafPaths, userValueProblems, type EncryptionValuesInput, type Values } from "../../encryption/helmValues";

const v = (text: string) => parseCiliumVersion(text) as CiliumVersion;
const ipsec: EncryptionValuesInput = { type: "ipsec", secretName: "cilium-ipsec-keys", keyFile: "keys", keyRotationDuration: "5m" };
const wg = (strict?: boolean): EncryptionValuesInput => ({
  type: "wireguard",
  nodeEncryption: true,
  persistentKeepalive: "25s",
  ...(strict ? { strictMode: { cidr: "10.0.0.0/8", allowRemoteNodeIdentities: false } } : {}),
});
const version = fc.tuple(fc.integer({ min: 16, max: 20 }), fc.integer({ min: 0, max: 30 })).map(([minor, patch]) => v(`1.${minor}.${patch}`));
const mode = fc.constantFrom(ipsec, wg(false), wg(true));

describe("chart versions", () => {
  it("accepts exact 1.16.x to 1.20.x and rejects the rest", () => {
    for (const ok of ["1.16.0", "1.18.6", "v1.20.2", "1.19.0-rc.1"]) assert.equal(typeof parseCiliumVersion(ok), "object", ok);
    for (const bad of ["1.15.9", "1.21.0", "2.0.0", "1.18", "^1.18.0", "latest", ""]) assert.equal(typeof parseCiliumVersion(bad), "string", bad);
  });
});

describe("encryption values per chart version", () => {
  it("IPsec names the secret and key file, never key material", () => {
    assert.deepEqual(encryptionValues(v("1.16.3"), ipsec), {
      rollOutCiliumPods: true,
      encryption: { enabled: true, type: "ipsec", ipsec: { secretName: "cilium-ipsec-keys", keyFile: "keys", keyRotationDuration: "5m", keyWatcher: true } },
    });
  });

  it("WireGuard strict mode moves under egress from 1.19 on (the old keys are removed in 1.20)", () => {
    const old = encryptionValues(v("1.18.6"), wg(true)).encryption as Values;
    const current = encryptionValues(v("1.20.2"), wg(true)).encryption as Values;
    assert.deepEqual(old.strictMode, { enabled: true, cidr: "10.0.0.0/8", allowRemoteNodeIdentities: false });
    assert.deepEqual(current.strictMode, { egress: { enabled: true, cidr: "10.0.0.0/8", allowRemoteNodeIdentities: false } });
  });

  it("emits only keys the chart of that version knows, for the right mode (property)", () => {
    fc.assert(
      fc.property(version, mode, (ver, enc) => {
        const ours = encryptionValues(ver, enc);
        assert.deepEqual(userValueProblems(ver, ours, ours), [], "our own values must pass our own check");
        const paths = [...leafPaths(ours).keys()];
        assert.ok(!paths.some((p) => p.includes("userspaceFallback") || p.includes("encryptedOverlay")));
        if (ver.minor >= 20) assert.ok(!paths.includes("encryption.strictMode.enabled"));
      }),
    );
  });
});

describe("user values", () => {
  it("merge under ours and keep unrelated settings", () => {
    const merged = ciliumValues(v("1.20.2"), ipsec, { hubble: { enabled: true }, encryption: { ipsec: { interface: "eth0" } } });
    assert.deepEqual(merged.hubble, { enabled: true });
    assert.equal(((merged.encryption as Values).ipsec as Values).interface, "eth0");
    assert.equal((merged.encryption as Values).enabled, true);
  });

  it("any value that differs from one of ours is a contradiction naming the path (property)", () => {
    fc.assert(
      fc.property(version, mode, fc.nat(), fc.jsonValue(), (ver, enc, pick, other) => {
        const ours = encryptionValues(ver, enc);
        const leaves = [...leafPaths(ours)];
        const [path, value] = leaves[pick % leaves.length]!;
        // A value made only of empty objects sets nothing in Helm, so it cannot contradict.
        fc.pre(JSON.stringify(other) !== JSON.stringify(value) && leafPaths({ other }).size > 0);
        const user: Values = {};
        const parts = path.split(".");
        let node = user;
        for (const p of parts.slice(0, -1)) node = (node[p] = {}) as Values;
        node[parts.at(-1)!] = other;
        const problems = userValueProblems(ver, ours, user);
        assert.ok(problems.some((p) => p.startsWith(path) && p.includes(`require ${path} = `)), problems.join("\n"));
        assert.throws(() => ciliumValues(ver, enc, user), /cilium\.values/);
      }),
    );
  });

  it("rejects typos and options of the other mode or another version", () => {
    const problems = (ver: string, enc: EncryptionValuesInput, user: Values) => userValueProblems(v(ver), encryptionValues(v(ver), enc), user);
    assert.match(problems("1.18.6", ipsec, { encryption: { ipsec: { secretname: "x" } } })[0]!, /encryption\.ipsec\.secretname: not a value of the Cilium 1\.18 chart/);
    assert.match(problems("1.18.6", ipsec, { encryption: { wireguard: { persistentKeepalive: "5s" } } })[0]!, /a wireguard option, but encryption\.type is ipsec/);
    assert.match(problems("1.17.0", wg(), { encryption: { wireguard: { userspaceFallback: true } } })[0]!, /not a value of the Cilium 1\.17 chart/);
    assert.match(problems("1.20.2", wg(), { encryption: { strictMode: { enabled: true } } })[0]!, /not a value of the Cilium 1\.20 chart/);
    assert.deepEqual(problems("1.19.3", wg(), { encryption: { strictMode: { ingress: { enabled: true } } } }), []);
  });
});
