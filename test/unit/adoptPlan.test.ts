import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { HelmRelease } from "../../adopt/helmRecord";
import { judgeKeyLine } from "../../adopt/keyJudge";
import { type ClusterState, planAdoption } from "../../adopt/plan";
import { hostEnv } from "../../config/files";
import { parseSettings, type Settings } from "../../config/settings";
import { type DeployedState, deployedStateFromOutputs, transitionProblems } from "../../config/transitions";
import { leafPaths } from "../../encryption/helmValues";
import { nextKeyId } from "../../encryption/keyLine";
import { asPulumiConfig } from "./mockProgram";

const settings = (encryption: Record<string, unknown>, cilium: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Settings =>
  parseSettings(asPulumiConfig({ encryption, cilium: { version: "1.20.2", ...cilium }, ...extra }));
const IPSEC = (keyId: number, more: Record<string, unknown> = {}) => ({ type: "ipsec", ipsec: { keyId, ...more } });
const WG = { type: "wireguard" };

const userConfig = { ipam: { mode: "kubernetes" }, hubble: { relay: { enabled: true }, ui: { enabled: true } }, nodeSelector: { "kubernetes.io/os": "linux" } };
const liveRelease = (over: Partial<HelmRelease> = {}): HelmRelease => ({
  name: "cilium",
  namespace: "kube-system",
  revision: 4,
  status: "deployed",
  chartName: "cilium",
  chartVersion: "1.20.2",
  config: userConfig,
  ...over,
});
/** The key line stays opaque to the plan; tests use a token in its place. */
const LINE = Symbol("line");
const keySecret = (line: string) => ({ key: { judgement: judgeKeyLine(line, settings(WG).cilium.version), line: LINE } });
const validLine = (id: number, bytes = 20) => `${id}+ rfc4106(gcm(aes)) ${"a1".repeat(bytes)} 128`;
const cluster = (over: Partial<ClusterState<symbol>> = {}): ClusterState<symbol> => ({ agents: [], ...over });
const helmAgent = { namespace: "kube-system", name: "cilium", helmRelease: "cilium" };
const installedStack: DeployedState = { mode: "ipsec", keyId: 1, ipsecAlgorithm: "aes-128-gcm", release: { adopted: false } };
const adoptedStack: DeployedState = { mode: "ipsec", keyId: 1, ipsecAlgorithm: "aes-128-gcm", release: { adopted: true } };

const refusals = (s: Settings, memory: DeployedState, c: ClusterState<symbol>) => {
  const plan = planAdoption(s, memory, c);
  return [...plan.problems, ...transitionProblems(plan.deployed, s)];
};

describe("install, adopt or keep managing", () => {
  it("installs when the cluster has no Cilium", () => {
    const plan = planAdoption(settings(IPSEC(1)), {}, cluster());
    assert.deepEqual([plan.problems, plan.release.action, plan.release.adopted, plan.release.importId], [[], "install", false, undefined]);
    assert.deepEqual(plan.key, { adopted: false });
  });

  it("adopts an existing release: imports it, keeps its values, sets only the encryption values", () => {
    const plan = planAdoption(settings(IPSEC(1)), {}, cluster({ release: liveRelease(), agents: [helmAgent] }));
    assert.deepEqual(plan.problems, []);
    assert.deepEqual([plan.release.action, plan.release.adopted, plan.release.importId], ["adopt", true, "kube-system/cilium"]);
    for (const [path, value] of leafPaths(userConfig)) assert.deepEqual(leafPaths(plan.release.values).get(path), value, path);
    assert.equal(leafPaths(plan.release.values).get("encryption.enabled"), true);
    const note = plan.notes.join("\n");
    assert.match(note, /adopting the Helm release kube-system\/cilium \(chart 1\.20\.2, revision 4; pulumi destroy leaves it installed\)/);
    assert.match(note, /encryption\.enabled: set to true/);
    assert.match(note, /4 other values the release's users set: unchanged/);
    assert.ok(!note.includes("kubernetes.io/os") || !note.includes("linux"), "a user value was printed");
  });

  it("keeps managing what the stack holds, installed or adopted, without importing again", () => {
    const installed = planAdoption(settings(IPSEC(1)), installedStack, cluster({ release: liveRelease({ config: { a: 1 } }) }));
    assert.deepEqual([installed.release.action, installed.release.adopted, installed.release.importId], ["manage", false, undefined]);
    assert.equal(leafPaths(installed.release.values).has("a"), false, "an installed release takes the stack's values only");
    const adopted = planAdoption(settings(IPSEC(1)), adoptedStack, cluster({ release: liveRelease() }));
    assert.deepEqual([adopted.release.action, adopted.release.adopted, adopted.release.importId], ["manage", true, undefined]);
    assert.deepEqual(leafPaths(adopted.release.values).get("ipam.mode"), "kubernetes");
  });

  it("an earlier run that failed before recording its outputs is adopted again, which is safe (same import ID)", () => {
    const plan = planAdoption(settings(IPSEC(1)), {}, cluster({ release: liveRelease({ status: "failed" }) }));
    assert.deepEqual([plan.problems, plan.release.importId], [[], "kube-system/cilium"]);
  });

  it("names the adopting run's key rules after the cluster, and outputs of older stacks count as an installed release", () => {
    assert.deepEqual(deployedStateFromOutputs({ mode: "ipsec", keyId: 2, release: { name: "cilium" } }).release, { adopted: false });
    assert.deepEqual(deployedStateFromOutputs({ release: { adopted: true }, ipsecKeyAdopted: true }), { release: { adopted: true }, ipsecKeyAdopted: true });
    assert.deepEqual(deployedStateFromOutputs({ mode: 3, keyId: "1" }), {});
  });
});

describe("the adoption note and config marked secret", () => {
  /** Settings whose top-level keys in `secret` the user set with --secret. */
  const secretSettings = (secret: string[], encryption: Record<string, unknown>, cilium: Record<string, unknown>): Settings =>
    parseSettings(asPulumiConfig({ encryption, cilium }), hostEnv(secret.map((k) => `cilium-encryption:${k}`)));
  const note = (s: Settings, config: Record<string, unknown>, chartVersion = "1.20.2") =>
    planAdoption(s, {}, cluster({ release: liveRelease({ chartVersion, config: { ...userConfig, ...config } }) })).notes.join("\n");
  const wgStrict = (cidr: string) => ({ ...WG, wireguard: { strictMode: { enabled: true, cidr, allowRemoteNodeIdentities: true } } });
  const liveStrict = { encryption: { enabled: true, type: "wireguard", strictMode: { egress: { enabled: true, cidr: "10.66.0.0/16" } } } };

  it("secret encryption config: every encryption value change names its path only, the release's old value included", () => {
    const shown = note(secretSettings([], wgStrict("10.77.0.0/16"), { version: "1.20.2" }), liveStrict);
    assert.match(shown, /encryption\.strictMode\.egress\.cidr: "10\.66\.0\.0\/16" → "10\.77\.0\.0\/16"/, "without --secret the values are shown");
    const hidden = note(secretSettings(["encryption"], wgStrict("10.77.0.0/16"), { version: "1.20.2" }), liveStrict);
    assert.match(hidden, /encryption\.strictMode\.egress\.cidr: changed \(value from secret config, not shown\)/);
    assert.match(hidden, /encryption\.strictMode\.egress\.allowRemoteNodeIdentities: set \(value from secret config, not shown\)/);
    assert.ok(!hidden.includes("10.77") && !hidden.includes("10.66"), hidden);
    assert.match(hidden, /7 other values the release's users set: unchanged/);
  });

  it("secret encryption config: a removed leaf of the release keeps its reason, not its value", () => {
    const live = { encryption: { enabled: true, type: "wireguard", wireguard: { persistentKeepalive: "25s" } } };
    const hidden = note(secretSettings(["encryption"], IPSEC(1), { version: "1.20.2" }), live);
    assert.match(hidden, /encryption\.wireguard\.persistentKeepalive: removed: a wireguard option, but encryption\.type is ipsec/);
    assert.ok(!hidden.includes("25s"), hidden);
  });

  it("secret cilium config: an encryption value from cilium.values names its path only; the stack's own encryption values still show", () => {
    const cilium = { version: "1.18.6", values: { encryption: { ipsec: { interface: "ethsecret7" } } } };
    const live = { encryption: { enabled: true, ipsec: { interface: "ethold3" } } };
    assert.match(note(secretSettings([], IPSEC(1), cilium), live, "1.18.6"), /encryption\.ipsec\.interface: "ethold3" → "ethsecret7"/);
    const hidden = note(secretSettings(["cilium"], IPSEC(1), cilium), live, "1.18.6");
    assert.match(hidden, /encryption\.ipsec\.interface: changed \(value from secret config, not shown\)/);
    assert.match(hidden, /encryption\.type: set to "ipsec"/);
    assert.ok(!hidden.includes("ethsecret7") && !hidden.includes("ethold3"), hidden);
  });
});

describe("refusing what cannot be adopted", () => {
  it("a Cilium that is no Helm release, naming what the program needs", () => {
    const [problem, ...rest] = refusals(settings(WG), {}, cluster({ agents: [{ namespace: "kube-system", name: "cilium" }] }));
    assert.deepEqual(rest, []);
    assert.match(problem!, /kube-system\/cilium is not part of a Helm release/);
    assert.match(problem!, /app\.kubernetes\.io\/managed-by: Helm/);
    assert.match(problem!, /--take-ownership/);
  });

  it("a Cilium in another namespace or under another release name, saying which setting to change", () => {
    assert.match(
      refusals(settings(WG), {}, cluster({ agents: [{ namespace: "cilium", name: "cilium", helmRelease: "cni" }] }))[0]!,
      /cilium\.namespace to cilium and .*cilium\.releaseName to cni/,
    );
    assert.match(
      refusals(settings(WG), {}, cluster({ agents: [{ namespace: "kube-system", name: "cilium", helmRelease: "cni" }] }))[0]!,
      /cilium\.releaseName to cni/,
    );
    assert.match(refusals(settings(WG), {}, cluster({ agents: [helmAgent] }))[0]!, /no record of it/);
  });

  it("a chart version other than cilium.version, unless the upgrade is allowed", () => {
    const c = cluster({ release: liveRelease({ chartVersion: "1.19.7" }) });
    const [problem] = refusals(settings(WG), {}, c);
    assert.match(problem!, /runs chart 1\.19\.7, the stack pins 1\.20\.2.*cilium\.version to 1\.19\.7.*allowChartUpgrade/);
    assert.deepEqual(refusals(settings(WG, { allowChartUpgrade: true }), {}, c), []);
    assert.match(refusals(settings(WG), adoptedStack, c)[0]!, /runs chart 1\.19\.7/, "an out-of-band chart change on an adopted release");
    assert.deepEqual(refusals(settings(WG), { ...installedStack, mode: "wireguard" }, c), [], "an installed release follows the stack's pin");
  });

  it("a release in the middle of an operation, or of another chart", () => {
    assert.match(refusals(settings(WG), {}, cluster({ release: liveRelease({ status: "pending-upgrade" }) }))[0]!, /is pending-upgrade; finish or roll back/);
    assert.match(refusals(settings(WG), {}, cluster({ release: liveRelease({ chartName: "nginx" }) }))[0]!, /chart "nginx", not cilium/);
  });

  it("a mode switch of a running encryption, as on a deployed stack", () => {
    const live = cluster({ release: liveRelease({ config: { ...userConfig, encryption: { enabled: true, type: "wireguard" } } }) });
    assert.match(refusals(settings(IPSEC(1)), {}, live)[0]!, /the cluster runs wireguard; switching to ipsec in place has broken clusters/);
    assert.deepEqual(refusals(settings(IPSEC(1), {}, { encryption: { ...IPSEC(1), allowModeSwitch: true } }), {}, live), []);
    const ipsecOn = cluster({ release: liveRelease({ config: { encryption: { enabled: true } } }) });
    assert.match(refusals(settings(WG), {}, ipsecOn)[0]!, /the cluster runs ipsec/, "the chart's default type is ipsec");
  });

  it("a type the release's chart renders nothing for is encryption off, not a mode to switch from", () => {
    const withType = (type: string, chartVersion = "1.20.2") =>
      cluster({ release: liveRelease({ chartVersion, config: { ...userConfig, encryption: { enabled: true, type } } }) });
    assert.deepEqual(refusals(settings(IPSEC(1)), {}, withType("IPsec")), []);
    assert.deepEqual(refusals(settings(WG, { version: "1.18.11" }), {}, withType("ztunnel", "1.18.11")), []);
    assert.match(refusals(settings(WG), {}, withType("ztunnel"))[0]!, /the cluster runs ztunnel/, "1.19 and later render ztunnel");
  });

  it("IPsec running from another Secret or key file", () => {
    const live = cluster({ release: liveRelease({ config: { encryption: { enabled: true, ipsec: { secretName: "my-keys" } } } }) });
    assert.match(refusals(settings(IPSEC(1)), {}, live)[0]!, /encryption\.ipsec\.secretName "my-keys"/);
  });
});

describe("an existing cilium-ipsec-keys Secret", () => {
  it("a valid line is kept as is, and the stack takes its id and algorithm", () => {
    const plan = planAdoption(settings(IPSEC(3)), {}, cluster({ ipsecSecret: keySecret(validLine(3)) }));
    assert.deepEqual(plan.problems, []);
    assert.deepEqual(plan.key, { adopted: true, keyId: 3, algorithm: "aes-128-gcm", line: LINE });
    assert.match(plan.notes.join("\n"), /keeping the key in kube-system\/cilium-ipsec-keys as it is \(id 3, aes-128-gcm\)/);
  });

  it("the next id rotates to a generated key; any other id is refused with both choices (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 15 }), fc.integer({ min: 1, max: 15 }), (live, wanted) => {
        const plan = planAdoption(settings(IPSEC(wanted)), {}, cluster({ ipsecSecret: keySecret(validLine(live)) }));
        if (wanted === live) assert.deepEqual([plan.problems, plan.key?.adopted], [[], true]);
        else if (wanted === nextKeyId(live)) assert.deepEqual([plan.problems, plan.key?.adopted], [[], false]);
        else {
          assert.equal(plan.problems.length, 1);
          assert.match(plan.problems[0]!, new RegExp(`holds key id ${live}; set encryption.ipsec.keyId to ${live} .* or to ${nextKeyId(live)}`));
        }
      }),
    );
  });

  it("another algorithm is refused with how to keep it or replace it", () => {
    const [problem] = refusals(settings(IPSEC(2)), {}, cluster({ ipsecSecret: keySecret(validLine(2, 36)) }));
    assert.match(problem!, /is aes-256-gcm; set encryption\.ipsec\.algorithm to aes-256-gcm to keep it.*keyId to 3 to replace/);
  });

  it("a 16-byte key is refused with its fix, and the fix (the next id) replaces it with a generated key", () => {
    const sixteen = keySecret(validLine(5, 16));
    const [problem] = refusals(settings(IPSEC(5)), {}, cluster({ ipsecSecret: sixteen }));
    assert.match(
      problem!,
      /cannot be kept: its key is 16 bytes.*Fix: set encryption\.ipsec\.keyId to 6: the program then replaces it with a generated aes-128-gcm key/,
    );
    const fixed = planAdoption(settings(IPSEC(6)), {}, cluster({ ipsecSecret: sixteen }));
    assert.deepEqual([fixed.problems, fixed.key], [[], { adopted: false }]);
    assert.match(fixed.notes.join("\n"), /replacing the key .* \(id 5, not usable: its key is 16 bytes/);
  });

  it("a key Cilium cannot rotate away from, and one without a key id, get fixes the program cannot perform", () => {
    const icv96 = keySecret(`5+ rfc4106(gcm(aes)) ${"a1".repeat(20)} 96`);
    assert.match(refusals(settings(IPSEC(6)), {}, cluster({ ipsecSecret: icv96 }))[0]!, /Cilium refuses to rotate from it/);
    assert.match(refusals(settings(IPSEC(1)), {}, cluster({ ipsecSecret: keySecret("garbage") }))[0]!, /delete the Secret/);
  });

  it("a Secret without the key file gets the generated key; WireGuard stacks leave the Secret alone", () => {
    const empty = planAdoption(settings(IPSEC(1)), {}, cluster({ ipsecSecret: {} }));
    assert.deepEqual([empty.problems, empty.key], [[], { adopted: false }]);
    const wg = planAdoption(settings(WG), {}, cluster({ ipsecSecret: keySecret("garbage") }));
    assert.deepEqual([wg.problems, wg.key], [[], undefined]);
  });

  it("once adopted, the key is carried while the id stays; a bump generates; an out-of-band change is refused", () => {
    const memory: DeployedState = { ...installedStack, keyId: 3, ipsecKeyAdopted: true };
    const live = cluster({ ipsecSecret: keySecret(validLine(3)) });
    assert.deepEqual(planAdoption(settings(IPSEC(3)), memory, live).key, { adopted: true, keyId: 3, algorithm: "aes-128-gcm", line: LINE });
    assert.deepEqual(planAdoption(settings(IPSEC(4)), memory, live).key, { adopted: false });
    const changed = planAdoption(settings(IPSEC(3)), memory, cluster({ ipsecSecret: keySecret(validLine(7)) }));
    assert.match(changed.problems[0]!, /changed or removed out of band; set encryption\.ipsec\.keyId to 4/);
    assert.deepEqual(
      planAdoption(settings(IPSEC(3)), { ...memory, ipsecKeyAdopted: false }, live).key,
      { adopted: false },
      "a generated key is never swapped for the Secret's",
    );
  });
});
