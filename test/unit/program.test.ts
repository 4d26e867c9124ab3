import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { readStackConfig } from "../../config/stackFile";
import { parseKeyLine } from "../../encryption/keyLine";
import { asPulumiConfig, type ProgramRun, type Registered, runProgram, SECRET_SIG, startProgram, VERIFIER_REPORT } from "./mockProgram";

const PROJECT_DIR = `${__dirname}/../..`;
const RELEASE = "kubernetes:helm.sh/v3:Release";
const SECRET = "kubernetes:core/v1:Secret";
const BYTES = "random:index/randomBytes:RandomBytes";
const COMMAND = "command:local:Command";

const ipsec = (keyId: number, extra: Record<string, unknown> = {}) =>
  asPulumiConfig({ encryption: { type: "ipsec", ipsec: { keyId }, ...extra }, cilium: { version: "1.18.6" } });

describe("Pulumi.dev.yaml (ipsec)", () => {
  let run: ProgramRun;
  before(async () => {
    run = await runProgram(readStackConfig(PROJECT_DIR, "dev"), {}, "dev");
  });

  it("writes kube-system/cilium-ipsec-keys with a valid key line from a random 20-byte PSK", () => {
    const bytes = run.one(BYTES);
    assert.equal(bytes.inputs.length, 20);
    const secret = run.one(SECRET);
    assert.deepEqual([secret.inputs.metadata.name, secret.inputs.metadata.namespace], ["cilium-ipsec-keys", "kube-system"]);
    assert.equal(secret.inputs.type, "Opaque");
    assert.equal(secret.inputs.metadata.annotations["pulumi.com/patchForce"], "true", "up must win over an out-of-band edit");
    assert.equal(secret.inputs.metadata.annotations["cilium-encryption/key-id"], "1");
    const line = secret.inputs.stringData.keys as string;
    const parsed = parseKeyLine(line);
    assert.deepEqual([parsed.keyId, parsed.algorithm, parsed.icvBits], [1, "aes-128-gcm", 128]);
    assert.match(line, /^1\+ rfc4106\(gcm\(aes\)\) [0-9a-f]{40} 128$/);
  });

  it("keeps the PSK secret end to end and never puts it into Helm values or outputs", () => {
    const secret = run.one(SECRET);
    assert.equal(secret.wire.stringData["4dabf18193072939515e22adb298388d"], SECRET_SIG, "stringData is not marked secret");
    assert.deepEqual(new Set(secret.additionalSecretOutputs), new Set(["data", "stringData"]));
    assert.deepEqual(new Set(run.one(BYTES).additionalSecretOutputs), new Set(["base64", "hex"]));
    const hex = parseKeyLine(secret.inputs.stringData.keys).hex;
    assert.ok(!JSON.stringify(run.one(RELEASE).inputs).includes(hex), "PSK found in Helm values");
    assert.ok(!JSON.stringify(run.one(COMMAND).inputs).includes(hex), "PSK found on the verifier command line");
    assert.ok(!JSON.stringify(run.outputs).includes(hex), "PSK found in stack outputs");
  });

  it("protects the secret and lets the provider update it in place", () => {
    assert.equal(run.one(SECRET).protect, true);
    assert.equal(run.one("pulumi:providers:kubernetes").inputs.enableSecretMutable, "true");
  });

  it("installs Cilium with IPsec on, naming the secret, after it", () => {
    const release = run.one(RELEASE);
    assert.equal(release.inputs.name, "cilium");
    assert.equal(release.inputs.namespace, "kube-system");
    assert.equal(release.inputs.version, "1.20.2");
    assert.deepEqual(release.inputs.values.encryption, {
      enabled: true,
      type: "ipsec",
      ipsec: { secretName: "cilium-ipsec-keys", keyFile: "keys", keyRotationDuration: "5m", keyWatcher: true },
    });
    const secretUrn = run.one(SECRET).urn;
    assert.ok(
      release.dependencies.some((d) => d.includes("cilium-ipsec-keys") || d.endsWith(secretUrn.split("::")[1]!)),
      `release deps: ${release.dependencies}`,
    );
  });

  it("verifies after the release, re-running on revision, mode and key id", () => {
    const cmd = run.one(COMMAND);
    assert.match(cmd.inputs.create, /^exec node --import tsx verifier\/main\.ts --mode ipsec --namespace kube-system --cilium-version 1\.20\.2 /);
    assert.deepEqual(cmd.inputs.triggers, [1, "ipsec", 1]);
    assert.ok(
      cmd.dependencies.some((d) => d.endsWith("::cilium")),
      `command deps: ${cmd.dependencies}`,
    );
  });

  it("uses the component type tokens and parents children", () => {
    const types = run.resources
      .filter((r) => !r.custom)
      .map((r) => r.type)
      .sort();
    assert.deepEqual(types, ["cilium-encryption:index:CiliumRelease", "cilium-encryption:index:EncryptionVerification", "cilium-encryption:index:IpsecKey"]);
    for (const child of [BYTES, SECRET]) assert.match(run.one(child).name, /^ipsec-key-/);
  });

  it("exports mode, key id, secret name, release and the report, never the PSK", () => {
    assert.equal(run.outputs.mode, "ipsec");
    assert.equal(run.outputs.keyId, 1);
    assert.equal(run.outputs.secretName, "cilium-ipsec-keys");
    assert.deepEqual(run.outputs.release, {
      name: "cilium",
      namespace: "kube-system",
      revision: 1,
      status: "deployed",
      chartVersion: "1.20.2",
      adopted: false,
    });
    assert.deepEqual(run.outputs.verification, VERIFIER_REPORT);
  });
});

describe("Pulumi.prod.yaml (wireguard)", () => {
  let run: ProgramRun;
  before(async () => {
    run = await runProgram(readStackConfig(PROJECT_DIR, "prod"), {}, "prod");
  });

  it("installs Cilium with WireGuard and creates no IPsec secret", () => {
    assert.equal(run.all(SECRET).length, 0);
    assert.equal(run.all(BYTES).length, 0);
    assert.deepEqual(run.one(RELEASE).inputs.values.encryption, {
      enabled: true,
      type: "wireguard",
      nodeEncryption: true,
      wireguard: { persistentKeepalive: "0s" },
    });
  });

  it("verifies WireGuard with the configured node encryption", () => {
    assert.match(run.one(COMMAND).inputs.create, /--mode wireguard .*--node-encryption true --strict-mode false$/);
    assert.equal(run.outputs.keyId, undefined);
  });
});

describe("rotation", () => {
  it("a bumped keyId keeps the bytes by id and algorithm, so it yields a new PSK and line id", async () => {
    const before = await runProgram(ipsec(3));
    const after = await runProgram(ipsec(4), { mode: "ipsec", keyId: 3, ipsecAlgorithm: "aes-128-gcm" });
    assert.deepEqual(before.one(BYTES).inputs.keepers, { keyId: "3", algorithm: "aes-128-gcm" });
    assert.deepEqual(after.one(BYTES).inputs.keepers, { keyId: "4", algorithm: "aes-128-gcm" });
    assert.equal(parseKeyLine(after.one(SECRET).inputs.stringData.keys).keyId, 4);
    assert.equal(after.one(SECRET).name, before.one(SECRET).name, "same Secret resource: updated, not replaced");
    assert.deepEqual(after.one(COMMAND).inputs.triggers, [1, "ipsec", 4]);
  });

  it("wraps 15 to 1", async () => {
    const run = await runProgram(ipsec(1), { mode: "ipsec", keyId: 15, ipsecAlgorithm: "aes-128-gcm" });
    assert.equal(parseKeyLine(run.one(SECRET).inputs.stringData.keys).keyId, 1);
  });

  it("AES-256-GCM gets 36 random bytes", async () => {
    const run = await runProgram(asPulumiConfig({ encryption: { type: "ipsec", ipsec: { keyId: 2, algorithm: "aes-256-gcm" } } }));
    assert.equal(run.one(BYTES).inputs.length, 36);
    assert.match(run.one(SECRET).inputs.stringData.keys, /^2\+ rfc4106\(gcm\(aes\)\) [0-9a-f]{72} 128$/);
  });
});

async function refused(config: Record<string, string>, message: RegExp, deployed: Record<string, unknown> = {}) {
  const run = startProgram(config, deployed);
  await assert.rejects(run.done, message);
  const types = run.resources.map((r) => r.type);
  assert.ok(!types.includes(RELEASE), `a release was registered: ${types}`);
  assert.ok(!types.includes(SECRET), `a secret was registered: ${types}`);
}

describe("changes to a deployed stack", () => {
  it("switching ipsec → wireguard is refused without the opt-in, with an explanation", () =>
    refused(
      asPulumiConfig({ encryption: { type: "wireguard" } }),
      /this stack runs ipsec; switching to wireguard in place has broken clusters \(cilium\/cilium#44691/,
      {
        mode: "ipsec",
        keyId: 1,
        ipsecSecretProtected: true,
      },
    ));

  it("the opt-in first lifts the secret's protection, then allows the switch", async () => {
    const arm = await runProgram(ipsec(1, { allowModeSwitch: true }), { mode: "ipsec", keyId: 1, ipsecSecretProtected: true });
    assert.equal(arm.one(SECRET).protect, false);
    assert.equal(arm.outputs.ipsecSecretProtected, false);
    await refused(asPulumiConfig({ encryption: { type: "wireguard", allowModeSwitch: true } }), /still protected from deletion/, {
      mode: "ipsec",
      ipsecSecretProtected: true,
    });
    const switched = await runProgram(asPulumiConfig({ encryption: { type: "wireguard", allowModeSwitch: true } }), {
      mode: "ipsec",
      ipsecSecretProtected: false,
    });
    assert.equal(switched.all(SECRET).length, 0);
    assert.equal(switched.one(RELEASE).inputs.values.encryption.type, "wireguard");
  });

  it("a key id that skips ahead or goes back is refused", () =>
    refused(ipsec(5), /encryption\.ipsec\.keyId: the deployed key id is 3; allowed: 3 \(keep the key\) or 4 \(rotate/, { mode: "ipsec", keyId: 3 }));

  it("changing the algorithm of a live key is refused", () =>
    refused(
      asPulumiConfig({ encryption: { type: "ipsec", ipsec: { keyId: 4, algorithm: "aes-256-gcm" } } }),
      /encryption\.ipsec\.algorithm: the deployed algorithm is aes-128-gcm/,
      {
        mode: "ipsec",
        keyId: 3,
        ipsecAlgorithm: "aes-128-gcm",
      },
    ));
});

const SIG_KEY = "4dabf18193072939515e22adb298388d";
const isSecret = (v: unknown) => typeof v === "object" && v !== null && (v as Record<string, unknown>)[SIG_KEY] === SECRET_SIG;
/** What the engine would store in plain text: the inputs with every secret-wrapped value left out. */
const plainText = (r: Registered): string => JSON.stringify(r.wire, (_k, v: unknown) => (isSecret(v) ? "[secret]" : v));

describe("secret config stays secret", () => {
  const dir = mkdtempSync(join(tmpdir(), "secret-config-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const kubeconfigPath = join(dir, "kubeconfig-p7w3");
  writeFileSync(kubeconfigPath, "apiVersion: v1\nkind: Config\n");
  const context = "admin@prod-k4z8";
  const contents =
    "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:6443\nusers:\n- name: admin\n  user:\n    token: t0ken-q5r2\n";
  const config = (cluster: Record<string, unknown>) => asPulumiConfig({ encryption: { type: "wireguard" }, cluster });
  const PROVIDER = "pulumi:providers:kubernetes";

  it("a secret kubeconfig path and context reach the provider and the verifier only as secrets", async () => {
    const run = await runProgram(config({ kubeconfig: kubeconfigPath, context }), {}, "dev", ["cilium-encryption:cluster"]);
    const provider = run.one(PROVIDER);
    assert.ok(isSecret(provider.wire.kubeconfig) && isSecret(provider.wire.context), `provider inputs: ${JSON.stringify(provider.wire)}`);
    assert.deepEqual([provider.inputs.kubeconfig, provider.inputs.context], [kubeconfigPath, context]);
    const cmd = run.one(COMMAND);
    assert.ok(isSecret(cmd.wire.environment), "the verifier's environment is not secret");
    assert.deepEqual(cmd.inputs.environment, { CILIUM_ENCRYPTION_FROM_STACK: "1", CILIUM_ENCRYPTION_CONTEXT: context, KUBECONFIG: kubeconfigPath });
    assert.doesNotMatch(cmd.inputs.create, /--context/, "the verifier reads the context from its environment");
    assert.deepEqual(new Set(cmd.additionalSecretOutputs), new Set(["environment", "stdout", "stderr"]));
    for (const r of run.resources) {
      for (const value of ["kubeconfig-p7w3", "prod-k4z8"]) assert.ok(!plainText(r).includes(value), `${value} in plain text in ${r.type} ${r.name}`);
    }
  });

  it("kubeconfig contents are a secret even when not marked so, and reach the verifier through a private file", async () => {
    const run = await runProgram(config({ kubeconfig: contents }));
    assert.ok(isSecret(run.one(PROVIDER).wire.kubeconfig));
    const cmd = run.one(COMMAND);
    assert.equal(cmd.inputs.environment.CILIUM_ENCRYPTION_KUBECONFIG_DATA, contents);
    assert.match(
      cmd.inputs.create,
      /umask 077 && kc=\$\(mktemp\) && printf '%s' "\$CILIUM_ENCRYPTION_KUBECONFIG_DATA" > "\$kc" \|\| exit 2; KUBECONFIG="\$kc" node /,
    );
    for (const r of run.resources) assert.ok(!plainText(r).includes("t0ken-q5r2"), `the kubeconfig token in plain text in ${r.type} ${r.name}`);
  });

  it("secret cilium config: the release's values, chart and repository are secret inputs and outputs, and reach Helm", async () => {
    const cilium = {
      version: "1.20.2",
      chart: { repo: "https://reader:tok3n-m9@charts.example.com/cilium" },
      values: { podAnnotations: { "example.com/owner": "v4lue-s3cret" } },
    };
    const stackConfig = asPulumiConfig({ encryption: { type: "wireguard" }, cilium });
    const plain = await runProgram(stackConfig);
    assert.ok(plainText(plain.one(RELEASE)).includes("v4lue-s3cret"), "without --secret the values are plain: the check below can fail");
    const run = await runProgram(stackConfig, {}, "dev", ["cilium-encryption:cilium"]);
    const release = run.one(RELEASE);
    assert.ok(isSecret(release.wire.values) && isSecret(release.wire.chart) && isSecret(release.wire.repositoryOpts), JSON.stringify(release.wire));
    assert.deepEqual(new Set(release.additionalSecretOutputs), new Set(["values", "chart", "repositoryOpts"]));
    assert.equal(release.inputs.values.podAnnotations["example.com/owner"], "v4lue-s3cret");
    assert.equal(release.inputs.repositoryOpts.repo, cilium.chart.repo);
    assert.equal(release.inputs.values.encryption.type, "wireguard");
    for (const r of run.resources) {
      for (const value of ["v4lue-s3cret", "tok3n-m9"]) assert.ok(!plainText(r).includes(value), `${value} in plain text in ${r.type} ${r.name}`);
    }
    assert.ok(!JSON.stringify(run.outputs).includes("v4lue-s3cret"));
  });

  it("secret encryption config: the release's values are secret (they carry the strict-mode CIDR), the chart is not", async () => {
    const encryption = { type: "wireguard", wireguard: { strictMode: { enabled: true, cidr: "10.93.0.0/16", allowRemoteNodeIdentities: true } } };
    const run = await runProgram(asPulumiConfig({ encryption }), {}, "dev", ["cilium-encryption:encryption"]);
    const release = run.one(RELEASE);
    assert.ok(isSecret(release.wire.values), "the values are not secret");
    assert.equal(isSecret(release.wire.chart), false);
    assert.deepEqual(release.additionalSecretOutputs, ["values"]);
    assert.equal(release.inputs.values.encryption.strictMode.egress.cidr, "10.93.0.0/16");
    for (const r of run.resources) assert.ok(!plainText(r).includes("10.93.0.0"), `the CIDR in plain text in ${r.type} ${r.name}`);
  });

  it("without secrets the verifier still gets its connection from the environment, not the command line", async () => {
    const run = await runProgram(config({ kubeconfig: kubeconfigPath, context }));
    const provider = run.one(PROVIDER);
    assert.deepEqual([provider.wire.kubeconfig, provider.wire.context], [kubeconfigPath, context], "plain config stays plain for the provider");
    const cmd = run.one(COMMAND);
    assert.ok(!cmd.inputs.create.includes(kubeconfigPath) && !cmd.inputs.create.includes(context), cmd.inputs.create);
    assert.deepEqual(cmd.additionalSecretOutputs, ["environment"]);
  });
});
