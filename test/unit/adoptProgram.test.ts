/**
 * index.ts under Pulumi mocks with a made-up cluster: what adoption registers (import, retain on
 * delete, secret values, the kept key line) and that a refusal registers no release.
 */
import assert from "node:assert/strict";
import { afterEach, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";
import { type LiveCluster, useClusterReader } from "../../adopt/cluster";
import type { HelmRelease } from "../../adopt/helmRecord";
import { judgeKeyLine } from "../../adopt/keyJudge";
import { type CiliumVersion, parseCiliumVersion } from "../../encryption/ciliumVersion";
import { asPulumiConfig, runProgram, SECRET_SIG, startProgram } from "./mockProgram";

const RELEASE = "kubernetes:helm.sh/v3:Release";
const SECRET = "kubernetes:core/v1:Secret";
const BYTES = "random:index/randomBytes:RandomBytes";

// mockProgram records what the mock callbacks see; the import ID and retainOnDelete travel only in the request.
const options = new Map<string, { importId: string; retainOnDelete: boolean }>();
const register = MockMonitor.prototype.registerResource;
MockMonitor.prototype.registerResource = function (this: MockMonitor, req: any, cb: any) {
  options.set(req.getName(), { importId: req.getImportid(), retainOnDelete: req.getRetainondelete() });
  return register.call(this, req, cb);
};
afterEach(() => options.clear());

const userConfig = { ipam: { mode: "kubernetes" }, hubble: { relay: { enabled: true } }, nodeSelector: { "kubernetes.io/os": "linux" } };
const live: HelmRelease = {
  name: "cilium",
  namespace: "kube-system",
  revision: 3,
  status: "deployed",
  chartName: "cilium",
  chartVersion: "1.20.2",
  config: userConfig,
};
const KEY_LINE = `2+ rfc4106(gcm(aes)) ${"5e".repeat(20)} 128`;
const withKey = (line: string): LiveCluster["ipsecSecret"] => ({
  key: { judgement: judgeKeyLine(line, parseCiliumVersion("1.20.2") as CiliumVersion), line: pulumi.secret(line) },
});
const ipsec = (keyId: number) => asPulumiConfig({ encryption: { type: "ipsec", ipsec: { keyId } } });
const inCluster = (state: LiveCluster) => useClusterReader(async () => state);
const isSecret = (wire: unknown) => (wire as Record<string, unknown>)?.["4dabf18193072939515e22adb298388d"] === SECRET_SIG;

describe("a cluster that already runs Cilium as a Helm release, with a key Secret", () => {
  it("imports the release and upgrades it with the users' values kept, secret, never uninstalled", async () => {
    inCluster({ release: live, agents: [{ namespace: "kube-system", name: "cilium", helmRelease: "cilium" }], ipsecSecret: withKey(KEY_LINE) });
    const run = await runProgram(ipsec(2));
    const release = run.one(RELEASE);
    assert.deepEqual(options.get("cilium"), { importId: "kube-system/cilium", retainOnDelete: true });
    assert.deepEqual(release.inputs.values.ipam, userConfig.ipam);
    assert.deepEqual(release.inputs.values.nodeSelector, userConfig.nodeSelector);
    assert.equal(release.inputs.values.encryption.enabled, true);
    assert.ok(isSecret(release.wire.values), "adopted values are not secret");
    assert.ok(release.additionalSecretOutputs.includes("values"));
    assert.deepEqual(run.outputs.release.adopted, true);
  });

  it("keeps the key line as it is: no random bytes, the same line written back as a secret, Secret retained", async () => {
    inCluster({ release: live, agents: [], ipsecSecret: withKey(KEY_LINE) });
    const run = await runProgram(ipsec(2));
    assert.equal(run.all(BYTES).length, 0);
    const secret = run.one(SECRET);
    assert.equal(secret.inputs.stringData.keys, KEY_LINE);
    assert.ok(isSecret(secret.wire.stringData), "the adopted key line is not secret");
    assert.equal(options.get("ipsec-key-secret")?.retainOnDelete, true);
    assert.deepEqual([run.outputs.keyId, run.outputs.ipsecKeyAdopted], [2, true]);
    assert.ok(!JSON.stringify(run.outputs).includes("5e5e5e"), "key material in the outputs");
  });

  it("the next key id generates a key instead (a rotation)", async () => {
    inCluster({ release: live, agents: [], ipsecSecret: withKey(KEY_LINE) });
    const run = await runProgram(ipsec(3));
    assert.equal(run.all(BYTES).length, 1);
    assert.match(run.one(SECRET).inputs.stringData.keys, /^3\+ rfc4106\(gcm\(aes\)\) [0-9a-f]{40} 128$/);
    assert.equal(run.outputs.ipsecKeyAdopted, false);
  });

  it("once adopted, later runs manage the release without importing it again and still never uninstall it", async () => {
    inCluster({ release: live, agents: [], ipsecSecret: withKey(KEY_LINE) });
    await runProgram(ipsec(2), { mode: "ipsec", keyId: 2, ipsecAlgorithm: "aes-128-gcm", release: { adopted: true }, ipsecKeyAdopted: true });
    assert.deepEqual(options.get("cilium"), { importId: "", retainOnDelete: true });
  });
});

describe("config marked secret on the adopting run", () => {
  it("the note printed with the preview names the encryption values it changes, never a secret one; values and chart stay secret", async () => {
    const liveEncryption = { enabled: true, type: "wireguard", strictMode: { egress: { enabled: true, cidr: "10.66.0.0/16" } } };
    inCluster({
      release: { ...live, config: { ...userConfig, encryption: liveEncryption } },
      agents: [{ namespace: "kube-system", name: "cilium", helmRelease: "cilium" }],
    });
    const config = asPulumiConfig({
      encryption: { type: "wireguard", wireguard: { strictMode: { enabled: true, cidr: "10.77.0.0/16", allowRemoteNodeIdentities: true } } },
      cilium: { values: { podAnnotations: { owner: "v4lue-s3cret" } } },
    });
    const printed: string[] = [];
    const log = console.log;
    // Under mocks there is no engine, so the SDK prints log messages to the console.
    console.log = (...args: unknown[]) => void printed.push(args.join(" "));
    let run: Awaited<ReturnType<typeof runProgram>>;
    try {
      run = await runProgram(config, {}, "dev", ["cilium-encryption:encryption", "cilium-encryption:cilium"]);
    } finally {
      console.log = log;
    }
    const text = printed.join("\n");
    assert.match(text, /adopting the Helm release kube-system\/cilium/);
    assert.match(text, /encryption\.strictMode\.egress\.cidr: changed \(value from secret config, not shown\)/);
    for (const value of ["10.77.", "10.66.", "v4lue-s3cret"]) assert.ok(!text.includes(value), `${value} printed: ${text}`);
    const release = run.one(RELEASE);
    assert.ok(isSecret(release.wire.values) && isSecret(release.wire.chart) && isSecret(release.wire.repositoryOpts), JSON.stringify(release.wire));
    assert.equal(release.inputs.values.podAnnotations.owner, "v4lue-s3cret");
    assert.deepEqual(new Set(release.additionalSecretOutputs), new Set(["values", "chart", "repositoryOpts"]));
  });
});

describe("a cluster without Cilium", () => {
  it("installs as before: no import, uninstalled on destroy, values in the open, a generated key", async () => {
    inCluster({ agents: [] });
    const run = await runProgram(ipsec(1));
    assert.deepEqual(options.get("cilium"), { importId: "", retainOnDelete: false });
    assert.equal(isSecret(run.one(RELEASE).wire.values), false);
    assert.equal(run.all(BYTES).length, 1);
    assert.deepEqual([run.outputs.release.adopted, run.outputs.ipsecKeyAdopted], [false, false]);
  });
});

describe("refusals", () => {
  it("a Cilium that is not a Helm release stops the run before any release is registered", async () => {
    inCluster({ agents: [{ namespace: "kube-system", name: "cilium" }] });
    const { resources, done } = startProgram(asPulumiConfig({ encryption: { type: "wireguard" } }));
    await assert.rejects(done, (e: Error) => e.message.includes("refusing this change") && e.message.includes("not part of a Helm release"));
    assert.equal(resources.filter((r) => r.type === RELEASE).length, 0);
  });

  it("a 16-byte key is refused with its fix and nothing is written", async () => {
    inCluster({ release: live, agents: [], ipsecSecret: withKey(`4+ rfc4106(gcm(aes)) ${"5e".repeat(16)} 128`) });
    const { resources, done } = startProgram(ipsec(4));
    await assert.rejects(done, (e: Error) => /16 bytes.*set encryption\.ipsec\.keyId to 5/s.test(e.message) && !e.message.includes("5e5e5e"));
    assert.equal(resources.filter((r) => r.type === SECRET || r.type === RELEASE).length, 0);
  });
});
