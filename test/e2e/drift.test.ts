/**
 * The drift command against a deployed stack: each out-of-band change is found (exit 2, resource and
 * field named), a clean stack is exit 0, failures are exit 1 with a clear message, and no report
 * ever contains the PSK.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { PROJECT } from "../../config/settings";
import { parseKeyLine } from "../../encryption/keyLine";
import {
  agentFault,
  clearAgentFaults,
  helmUpgradeOutOfBand,
  kubeconfig,
  kubectl,
  kubectlJson,
  livePsk,
  newStack,
  PROJECT_DIR,
  stackConfig,
  type TestStack,
} from "./harness";
import { applyRbacManifests, type Grant, grant, revoke, waitForAuthorization, writeServiceAccountKubeconfig } from "./rbac";

let t: TestStack;
const psks = new Set<string>();
/** The stack's own kubeconfig file, so a test can make the cluster unreachable without a config change. */
const kubeconfigCopy = join(PROJECT_DIR, "..", `drift-kubeconfig-${process.pid}`);
const config = () => ({ ...stackConfig("ns-drift", { type: "ipsec", ipsec: { keyId: 1 } }), cluster: { kubeconfig: kubeconfigCopy } });

function drift(stack: string, ...flags: string[]): { code: number; out: string; report: any; seconds: number } {
  const t0 = Date.now();
  const run = spawnSync(process.execPath, ["--import", "tsx", "drift/main.ts", "--stack", stack, "--json", ...flags], {
    cwd: PROJECT_DIR,
    encoding: "utf8",
    env: process.env,
  });
  const seconds = (Date.now() - t0) / 1000;
  const out = `${run.stdout}${run.stderr}`;
  for (const psk of psks) assert.ok(!out.includes(psk), "a PSK appears in the drift output");
  return { code: run.status ?? -1, out, report: JSON.parse(run.stdout), seconds };
}

function verify(stack: string, ...flags: string[]): { code: number; out: string; report: any } {
  const run = spawnSync(process.execPath, ["--import", "tsx", "verifier/main.ts", "--stack", stack, ...flags], {
    cwd: PROJECT_DIR,
    encoding: "utf8",
    env: process.env,
  });
  const out = `${run.stdout}${run.stderr}`;
  for (const psk of psks) assert.ok(!out.includes(psk), "a PSK appears in the verifier's output");
  return { code: run.status ?? -1, out, report: JSON.parse(run.stdout) };
}

function remember() {
  psks.add(parseKeyLine(livePsk(t.namespace).line).hex);
}

const drifted = (report: any, type: string) => report.drifted.find((r: any) => r.type === type);

describe("drift", () => {
  before(async () => {
    clearAgentFaults();
    copyFileSync(kubeconfig(), kubeconfigCopy);
    t = await newStack("drift", config());
    await t.up();
    remember();
  });
  after(async () => {
    await t?.remove();
    rmSync(kubeconfigCopy, { force: true });
  });

  it("a clean stack is exit 0", () => {
    const r = drift(t.name);
    assert.equal(r.code, 0, r.out);
    assert.deepEqual(r.report.drifted, []);
    console.log(`drift on a clean stack took ${r.seconds.toFixed(1)} s`);
  });

  /** The key Secret's entry in a report, with the given field changed out of band: always masked. */
  function secretField(r: ReturnType<typeof drift>, path: string) {
    const secret = drifted(r.report, "kubernetes:core/v1:Secret");
    assert.ok(secret, r.out);
    assert.equal(secret.name, "ipsec-key-secret");
    const field = secret.fields.find((f: any) => f.path === path);
    assert.ok(field, `${path} not reported: ${r.out}`);
    assert.ok(
      secret.fields.every((f: any) => f.secret === true && !("before" in f) && !("after" in f)),
      r.out,
    );
    return { secret, field };
  }

  it("a label added with kubectl label: exit 2, the label named, its value masked; up --refresh records it", async () => {
    kubectl("label", "secret", "cilium-ipsec-keys", "-n", t.namespace, "example.com/owner=label-value-7c1e");
    const r = drift(t.name);
    assert.equal(r.code, 2, r.out);
    const { secret, field } = secretField(r, 'metadata.labels["example.com/owner"]');
    assert.equal(field.kind, "add");
    assert.equal(secret.op, "changed-outside", "the program does not set this label, so up leaves it");
    assert.ok(!r.out.includes("label-value-7c1e"), r.out);
    await t.up({ refresh: true });
    assert.equal(drift(t.name).code, 0, r.out);
  });

  it("an annotation added with kubectl annotate: exit 2, named, masked", async () => {
    kubectl("annotate", "secret", "cilium-ipsec-keys", "-n", t.namespace, "example.com/note=annotation-value-5d2a");
    const r = drift(t.name);
    assert.equal(r.code, 2, r.out);
    secretField(r, 'metadata.annotations["example.com/note"]');
    assert.ok(!r.out.includes("annotation-value-5d2a"), r.out);
    await t.up({ refresh: true });
    assert.equal(drift(t.name).code, 0);
  });

  it("a field the program does not set (a finalizer): exit 2, named", async () => {
    kubectl(
      "patch",
      "secret",
      "cilium-ipsec-keys",
      "-n",
      t.namespace,
      "--type",
      "merge",
      "-p",
      JSON.stringify({ metadata: { finalizers: ["example.com/hold"] } }),
    );
    const r = drift(t.name);
    // Lift it before asserting, so a failure cannot leave a Secret that never goes away.
    kubectl("patch", "secret", "cilium-ipsec-keys", "-n", t.namespace, "--type", "merge", "-p", JSON.stringify({ metadata: { finalizers: null } }));
    assert.equal(r.code, 2, r.out);
    secretField(r, "metadata.finalizers");
    assert.equal(drift(t.name).code, 0, "the finalizer gone again: no drift");
  });

  it("kubectl apply of the Secret: the key copied into the last-applied annotation never reaches the report", async () => {
    const live = livePsk(t.namespace);
    const manifest = {
      apiVersion: "v1",
      kind: "Secret",
      type: "Opaque",
      metadata: { name: "cilium-ipsec-keys", namespace: t.namespace, labels: { "app.kubernetes.io/managed-by": "cilium-encryption" } },
      stringData: { keys: live.line },
    };
    execFileSync("kubectl", ["--kubeconfig", kubeconfig(), "apply", "-f", "-"], { input: JSON.stringify(manifest), stdio: ["pipe", "ignore", "pipe"] });
    const r = drift(t.name);
    kubectl("annotate", "secret", "cilium-ipsec-keys", "-n", t.namespace, "kubectl.kubernetes.io/last-applied-configuration-");
    assert.equal(r.code, 2, r.out);
    secretField(r, 'metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]');
    assert.equal(livePsk(t.namespace).uid, live.uid);
    await t.up({ refresh: true });
    assert.equal(drift(t.name).code, 0);
  });

  it("the key line edited with kubectl: exit 2, the Secret named, the change shown as secret", async () => {
    const edited = `1+ rfc4106(gcm(aes)) ${"ab".repeat(20)} 128`;
    psks.add("ab".repeat(20));
    kubectl(
      "patch",
      "secret",
      "cilium-ipsec-keys",
      "-n",
      t.namespace,
      "--type",
      "merge",
      "-p",
      JSON.stringify({ data: { keys: Buffer.from(edited).toString("base64") } }),
    );
    const r = drift(t.name);
    assert.equal(r.code, 2, r.out);
    const secret = drifted(r.report, "kubernetes:core/v1:Secret");
    assert.ok(secret, r.out);
    assert.equal(secret.name, "ipsec-key-secret");
    assert.ok(secret.fields.length > 0 && secret.fields.every((f: any) => f.secret === true), r.out);
    await t.up({ refresh: true });
    assert.equal(drift(t.name).code, 0, "pulumi up --refresh restored the key");
  });

  it("the Secret deleted: exit 2 and named; up recreates it", async () => {
    kubectl("delete", "secret", "cilium-ipsec-keys", "-n", t.namespace);
    const r = drift(t.name);
    assert.equal(r.code, 2, r.out);
    assert.equal(drifted(r.report, "kubernetes:core/v1:Secret")?.name, "ipsec-key-secret", r.out);
    await t.up({ refresh: true });
    remember();
    assert.equal(drift(t.name).code, 0);
  });

  it("the release upgraded by another program with encryption disabled: exit 2, the value named", async () => {
    helmUpgradeOutOfBand(t.namespace, (values) => (values.encryption.enabled = false));
    const r = drift(t.name);
    assert.equal(r.code, 2, r.out);
    const release = drifted(r.report, "kubernetes:helm.sh/v3:Release");
    assert.ok(release, r.out);
    const field = release.fields.find((f: any) => f.path.includes("encryption.enabled") || f.path === "values");
    assert.ok(field, r.out);
    await t.up({ refresh: true });
    assert.equal(drift(t.name).code, 0);
  });

  it("the release's values edited: exit 2", async () => {
    helmUpgradeOutOfBand(t.namespace, (values) => (values.encryption.ipsec.keyRotationDuration = "30m"));
    const r = drift(t.name);
    assert.equal(r.code, 2, r.out);
    assert.ok(drifted(r.report, "kubernetes:helm.sh/v3:Release"), r.out);
    await t.up({ refresh: true });
  });

  it("--verify: an agent reporting encryption off counts as drift", () => {
    agentFault("node-b", { mode: "Disabled" });
    const r = drift(t.name, "--verify");
    clearAgentFaults();
    assert.equal(r.code, 2, r.out);
    assert.equal(r.report.encryption.verdict, "not-encrypted");
    assert.match(r.report.encryption.summary, /node-b: .*Disabled/);
    const clean = drift(t.name, "--verify");
    assert.equal(clean.code, 0, clean.out);
    assert.equal(clean.report.encryption.summary, "all agents and the wire check agree");
    // A scheduled check can read the agents only: no test pods.
    const agentsOnly = drift(t.name, "--verify", "--wire-check", "off");
    assert.equal(agentsOnly.code, 0, agentsOnly.out);
    assert.equal(agentsOnly.report.encryption.summary, "all agents agree (wire check off)");
  });

  it("an unknown stack is exit 1 with a clear message", () => {
    const r = drift("no-such-stack");
    assert.equal(r.code, 1);
    assert.match(r.report.error, /no-such-stack/);
  });

  it("a wrong passphrase is exit 1 with a clear message", () => {
    const wrong = join(PROJECT_DIR, "..", `wrong-passphrase-${process.pid}`);
    writeFileSync(wrong, "not the passphrase\n");
    after(() => rmSync(wrong, { force: true }));
    const env = { ...process.env, PULUMI_CONFIG_PASSPHRASE_FILE: wrong };
    const run = spawnSync(process.execPath, ["--import", "tsx", "drift/main.ts", "--stack", t.name, "--json"], { cwd: PROJECT_DIR, encoding: "utf8", env });
    assert.equal(run.status, 1, run.stdout + run.stderr);
    assert.match(JSON.parse(run.stdout).error, /passphrase/i);
  });

  it("an unreachable cluster is exit 1 with a clear message", async () => {
    const live = readFileSync(kubeconfigCopy, "utf8");
    // Port 1 on loopback: refused at once, nothing leaves the machine.
    writeFileSync(kubeconfigCopy, live.replace(/server: https:\/\/127\.0\.0\.1:\d+/, "server: https://127.0.0.1:1"));
    const r = drift(t.name);
    // The program's own read of the cluster, before the provider's: a message naming the settings, no stack trace.
    const preview = await t.preview().then(
      () => assert.fail("a preview against an unreachable cluster succeeded"),
      (e: Error) => e.message,
    );
    writeFileSync(kubeconfigCopy, live);
    assert.equal(r.code, 1, r.out);
    assert.match(r.report.error, /127\.0\.0\.1:1|unreachable|connection refused/i);
    assert.match(
      preview,
      /cannot [^\n]*: the API server is unreachable: check that cilium-encryption:cluster\.kubeconfig \(set\) and cilium-encryption:cluster\.context/,
    );
    assert.ok(!/\n\s+at /.test(preview), preview);
  });

  it("the cluster config marked secret: verify --stack and drift --verify read it through the engine and print nothing of it", async () => {
    execFileSync("pulumi", ["config", "set", "--secret", "--path", "--stack", t.name, `${PROJECT}:cluster.kubeconfig`], {
      cwd: PROJECT_DIR,
      input: kubeconfigCopy,
      stdio: ["pipe", "ignore", "pipe"],
    });
    const file = readFileSync(join(PROJECT_DIR, `Pulumi.${t.name}.yaml`), "utf8");
    assert.ok(!file.includes(basename(kubeconfigCopy)) && /secure:/.test(file), "the stack file holds the path encrypted");
    await t.up();
    const v = verify(t.name);
    assert.equal(v.code, 0, v.out);
    assert.equal(v.report.verdict, "verified");
    const d = drift(t.name, "--verify");
    assert.equal(d.code, 0, d.out);
    for (const out of [v.out, d.out]) assert.ok(!out.includes(basename(kubeconfigCopy)), out);
  });

  it("drift --verify says why the verifier could not verify: its error and its last stderr lines", () => {
    const config = kubectlJson("get", "configmap", "cilium-config", "-n", t.namespace);
    kubectl("delete", "configmap", "cilium-config", "-n", t.namespace);
    let r: ReturnType<typeof drift>;
    try {
      r = drift(t.name, "--verify", "--wire-check", "off");
    } finally {
      const { resourceVersion: _v, uid: _u, creationTimestamp: _c, managedFields: _m, ...metadata } = config.metadata;
      execFileSync("kubectl", ["--kubeconfig", kubeconfig(), "create", "-f", "-"], {
        input: JSON.stringify({ ...config, metadata }),
        stdio: ["pipe", "ignore", "pipe"],
      });
    }
    assert.equal(r.code, 1, r.out);
    assert.match(r.report.error, /the verifier could not verify encryption: [^\n]*cilium-config[^\n]*not found/);
    assert.ok(
      r.report.verifierStderr.some((l: string) => /COULD NOT VERIFY/.test(l)),
      r.out,
    );
    assert.ok(!r.out.includes(basename(kubeconfigCopy)), r.out);
  });

  it("the roles of deploy/rbac are all that verify and drift --verify need, wire check on; without one, the command says what was refused", () => {
    applyRbacManifests();
    const account = "ci-drift";
    const wireCheck: Grant = { role: "cilium-encryption-verify-wire-check" };
    const previewNamespace: Grant = { role: "cilium-encryption-preview-namespace", namespace: t.namespace };
    grant(account, [
      { role: "cilium-encryption-preview" },
      previewNamespace,
      { role: "cilium-encryption-verify" },
      { role: "cilium-encryption-verify-namespace", namespace: t.namespace },
      wireCheck,
    ]);
    waitForAuthorization(account, "create", "namespaces", undefined, true);
    const admin = readFileSync(kubeconfigCopy, "utf8");
    writeServiceAccountKubeconfig(account, kubeconfigCopy);
    try {
      const v = verify(t.name);
      assert.equal(v.code, 0, v.out);
      assert.equal(v.report.wire.verdict, "encrypted", v.out);
      const d = drift(t.name, "--verify");
      assert.equal(d.code, 0, d.out);
      assert.equal(d.report.encryption.summary, "all agents and the wire check agree");

      revoke(account, wireCheck);
      waitForAuthorization(account, "create", "namespaces", undefined, false);
      const noWire = verify(t.name);
      assert.equal(noWire.code, 2, noWire.out);
      assert.match(
        noWire.report.problems[0].reason,
        /^wire check: [^\n]* is forbidden: User "system:serviceaccount:default:ci-drift" cannot (get|list|create) resource "(namespaces|pods)"/,
      );
      const agentsOnly = verify(t.name, "--wire-check", "off");
      assert.equal(agentsOnly.code, 0, agentsOnly.out);

      revoke(account, previewNamespace);
      waitForAuthorization(account, "list", "secrets", t.namespace, false);
      const noSecrets = drift(t.name);
      assert.equal(noSecrets.code, 1, noSecrets.out);
      assert.match(noSecrets.report.error, /secrets[^\n]* is forbidden: User "system:serviceaccount:default:ci-drift" cannot (get|list) resource "secrets"/);
    } finally {
      writeFileSync(kubeconfigCopy, admin);
    }
  });
});
