import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { agentEnvName, agentValueProblems, encryptionAgentOptions } from "../../encryption/chartRules";
import { type CiliumVersion, parseCiliumVersion } from "../../encryption/ciliumVersion";
import { ciliumValues, type EncryptionValuesInput, encryptionValues, leafPaths, userValueProblems, type Values } from "../../encryption/helmValues";

const v = (text: string) => parseCiliumVersion(text) as CiliumVersion;
const ipsec: EncryptionValuesInput = { type: "ipsec", secretName: "cilium-ipsec-keys", keyFile: "keys", keyRotationDuration: "5m" };
const wg = (strict?: boolean): EncryptionValuesInput => ({
  type: "wireguard",
  nodeEncryption: true,
  persistentKeepalive: "25s",
  ...(strict ? { strictMode: { cidr: "10.0.0.0/8", allowRemoteNodeIdentities: false } } : {}),
});
const ipsecStrict: EncryptionValuesInput = { ...ipsec, strictMode: { cidr: "10.0.0.0/8", allowRemoteNodeIdentities: true } };
const version = fc.tuple(fc.integer({ min: 16, max: 20 }), fc.integer({ min: 0, max: 30 })).map(([minor, patch]) => v(`1.${minor}.${patch}`));
/** A chart version and encryption settings it supports (IPsec strict mode from 1.19). */
const versionAndMode = version.chain((ver) =>
  fc.constantFrom(ipsec, wg(false), wg(true), ...(ver.minor >= 19 ? [ipsecStrict] : [])).map((enc) => [ver, enc] as const),
);

describe("chart versions", () => {
  it("accepts exact 1.16.x to 1.20.x and rejects the rest", () => {
    for (const ok of ["1.16.0", "1.18.6", "v1.20.2"]) assert.equal(typeof parseCiliumVersion(ok), "object", ok);
    for (const bad of ["1.15.9", "1.21.0", "2.0.0", "1.18", "^1.18.0", "latest", "", "1.19.0-rc.1"])
      assert.equal(typeof parseCiliumVersion(bad), "string", bad);
  });
});

describe("encryption values per chart version", () => {
  it("IPsec names the secret and key file, never key material", () => {
    assert.deepEqual(encryptionValues(v("1.16.3"), ipsec), {
      rollOutCiliumPods: true,
      encryption: { enabled: true, type: "ipsec", ipsec: { secretName: "cilium-ipsec-keys", keyFile: "keys", keyRotationDuration: "5m", keyWatcher: true } },
    });
  });

  it("IPsec strict mode exists from 1.19 on, under egress", () => {
    assert.deepEqual((encryptionValues(v("1.19.7"), ipsecStrict).encryption as Values).strictMode, {
      egress: { enabled: true, cidr: "10.0.0.0/8", allowRemoteNodeIdentities: true },
    });
    assert.throws(() => encryptionValues(v("1.18.11"), ipsecStrict), /IPsec strict mode needs Cilium 1\.19 or later/);
  });

  it("WireGuard strict mode moves under egress from 1.19 on (the old keys are removed in 1.20)", () => {
    const old = encryptionValues(v("1.18.6"), wg(true)).encryption as Values;
    const current = encryptionValues(v("1.20.2"), wg(true)).encryption as Values;
    assert.deepEqual(old.strictMode, { enabled: true, cidr: "10.0.0.0/8", allowRemoteNodeIdentities: false });
    assert.deepEqual(current.strictMode, { egress: { enabled: true, cidr: "10.0.0.0/8", allowRemoteNodeIdentities: false } });
  });

  it("emits only keys the chart of that version knows, for the right mode (property)", () => {
    fc.assert(
      fc.property(versionAndMode, ([ver, enc]) => {
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
    const merged = ciliumValues(v("1.19.7"), ipsec, { hubble: { enabled: true }, encryption: { ipsec: { interface: "eth0" } } });
    assert.deepEqual(merged.hubble, { enabled: true });
    assert.equal(((merged.encryption as Values).ipsec as Values).interface, "eth0");
    assert.equal((merged.encryption as Values).enabled, true);
  });

  it("any value that differs from one of ours is a contradiction naming the path (property)", () => {
    fc.assert(
      fc.property(versionAndMode, fc.nat(), fc.jsonValue(), ([ver, enc], pick, other) => {
        const ours = encryptionValues(ver, enc);
        const leaves = [...leafPaths(ours)];
        const [path, value] = leaves[pick % leaves.length]!;
        // A value made only of empty objects sets nothing in Helm, so it cannot contradict.
        fc.pre(JSON.stringify(other) !== JSON.stringify(value) && leafPaths({ other }).size > 0);
        const user: Values = {};
        const parts = path.split(".");
        let node = user;
        for (const p of parts.slice(0, -1)) {
          const child: Values = {};
          node[p] = child;
          node = child;
        }
        node[parts.at(-1)!] = other;
        const problems = userValueProblems(ver, ours, user);
        assert.ok(
          problems.some((p) => p.startsWith(path) && p.includes(`require ${path} = `)),
          problems.join("\n"),
        );
        assert.throws(() => ciliumValues(ver, enc, user), /cilium\.values/);
      }),
    );
  });

  it("rejects typos and options of the other mode or another version", () => {
    const problems = (ver: string, enc: EncryptionValuesInput, user: Values) => userValueProblems(v(ver), encryptionValues(v(ver), enc), user);
    assert.match(
      problems("1.18.6", ipsec, { encryption: { ipsec: { secretname: "x" } } })[0]!,
      /encryption\.ipsec\.secretname: not a value of the Cilium 1\.18 chart/,
    );
    assert.match(
      problems("1.18.6", ipsec, { encryption: { wireguard: { persistentKeepalive: "5s" } } })[0]!,
      /a wireguard option, but encryption\.type is ipsec/,
    );
    assert.match(problems("1.17.0", wg(), { encryption: { wireguard: { userspaceFallback: true } } })[0]!, /not a value of the Cilium 1\.17 chart/);
    assert.match(problems("1.20.2", wg(), { encryption: { strictMode: { enabled: true } } })[0]!, /not a value of the Cilium 1\.20 chart/);
    assert.deepEqual(problems("1.19.3", wg(), { encryption: { strictMode: { ingress: { enabled: true } } } }), []);
  });
});

describe("agent options behind the encryption values", () => {
  const channels = {
    extraConfig: (option: string): Values => ({ extraConfig: { [option]: "false" } }),
    extraArgs: (option: string): Values => ({ extraArgs: ["--debug", `--${option}=false`] }),
    extraEnv: (option: string): Values => ({ extraEnv: [{ name: agentEnvName(option), value: "false" }] }),
  };
  const channel = fc.constantFrom(...(Object.keys(channels) as Array<keyof typeof channels>));

  it("an option the chart renders from encryption values is refused through every channel (property)", () => {
    fc.assert(
      fc.property(version, channel, fc.nat(), (ver, via, pick) => {
        const owned = [...encryptionAgentOptions(ver)];
        const option = owned[pick % owned.length]!;
        const problems = agentValueProblems(ver, "ipsec", channels[via](option), JSON.stringify);
        assert.equal(problems.length, 1, problems.join("\n"));
        assert.match(problems[0]!, new RegExp(`^${via}(\\[\\d\\]|\\.${option}): `));
      }),
    );
  });

  it("other agent options pass", () => {
    for (const option of ["debug", "enable-hubble", "enable-ipsec-xfrm-state-caching", "node-encryption-opt-out-labels", "ipsec-key"]) {
      for (const via of Object.keys(channels) as Array<keyof typeof channels>)
        assert.deepEqual(agentValueProblems(v("1.20.2"), "ipsec", channels[via](option), JSON.stringify), [], `${via} ${option}`);
    }
  });

  it("follows the options each minor has (encrypt-interface until 1.19, the old strict-mode options until 1.19)", () => {
    assert.ok(encryptionAgentOptions(v("1.19.7")).has("encrypt-interface"));
    assert.ok(!encryptionAgentOptions(v("1.20.2")).has("encrypt-interface"));
    assert.ok(encryptionAgentOptions(v("1.19.7")).has("enable-encryption-strict-mode"));
    assert.ok(!encryptionAgentOptions(v("1.20.2")).has("enable-encryption-strict-mode"));
  });
});

describe("combinations the agent refuses to start with", () => {
  const problems = (ver: string, enc: EncryptionValuesInput, user: Values) => userValueProblems(v(ver), encryptionValues(v(ver), enc), user);

  it("host firewall: refused with IPsec on every minor, fine with WireGuard", () => {
    for (const minor of [16, 17, 18, 19, 20]) {
      assert.match(problems(`1.${minor}.0`, ipsec, { hostFirewall: { enabled: true } }).join(), /host firewall and IPsec/);
      assert.deepEqual(problems(`1.${minor}.0`, wg(), { hostFirewall: { enabled: true } }), []);
    }
  });

  it("multi-pool IPAM with IPsec: refused up to 1.17, native routing on 1.18, allowed from 1.19", () => {
    const multiPool = (routingMode?: string): Values => ({ ipam: { mode: "multi-pool" }, ...(routingMode ? { routingMode } : {}) });
    assert.match(problems("1.16.19", ipsec, multiPool("native")).join(), /1\.16 agents refuse multi-pool IPAM with IPsec/);
    assert.match(problems("1.17.16", ipsec, multiPool()).join(), /1\.17 agents refuse multi-pool IPAM/);
    assert.match(problems("1.18.11", ipsec, multiPool("native")).join(), /only in tunnel mode/);
    assert.deepEqual(problems("1.18.11", ipsec, multiPool()), []);
    assert.match(problems("1.18.11", ipsec, { ...multiPool(), extraConfig: { "routing-mode": "native" } }).join(), /only in tunnel mode/);
    assert.deepEqual(problems("1.19.7", ipsec, multiPool("native")), []);
    assert.deepEqual(problems("1.17.16", wg(), multiPool("native")), []);
  });

  it("IPsec needs DNS proxy transparent mode while the L7 proxy is on", () => {
    assert.match(problems("1.20.2", ipsec, { dnsProxy: { enableTransparentMode: false } }).join(), /transparent mode/);
    assert.match(problems("1.20.2", ipsec, { cni: { chainingMode: "generic-veth" } }).join(), /transparent mode/);
    assert.match(problems("1.20.2", ipsec, { cni: { chainingTarget: "flannel" } }).join(), /transparent mode/);
    assert.deepEqual(problems("1.20.2", ipsec, { cni: { chainingMode: "aws-cni" }, dnsProxy: { enableTransparentMode: true } }), []);
    assert.deepEqual(problems("1.20.2", ipsec, { dnsProxy: { enableTransparentMode: false }, l7Proxy: false }), []);
    assert.deepEqual(problems("1.20.2", ipsec, { cni: { chainingMode: "none" } }), []);
    assert.deepEqual(problems("1.20.2", wg(), { dnsProxy: { enableTransparentMode: false } }), []);
  });

  it("routing mode follows the chart: GKE is native on every minor, ENI from 1.19", () => {
    const multiPoolOn = (ver: string, extra: Values) => problems(ver, ipsec, { ipam: { mode: "multi-pool" }, ...extra });
    assert.match(multiPoolOn("1.18.11", { gke: { enabled: true } }).join(), /only in tunnel mode/);
    assert.deepEqual(multiPoolOn("1.18.11", { eni: { enabled: false } }), []);
    // ENI wins over ipam.mode, so this is no multi-pool cluster.
    assert.deepEqual(multiPoolOn("1.18.11", { eni: { enabled: true } }), []);
  });
});
