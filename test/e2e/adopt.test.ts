/**
 * Taking over a Cilium that users installed themselves, with the real engine and Cilium's real chart:
 * installed out of band with the Helm CLI and values of their own, then one `pulumi up` turns on
 * encryption and changes nothing else. Key material is compared by hash and never printed.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { parseKeyLine } from "../../encryption/keyLine";
import { backendText, chartPath, exists, helm, kubectl, kubectlJson, livePsk, newStack, PROJECT_DIR, stackConfig, type TestStack } from "./harness";

/** A value users could keep in their Helm values (a TLS key the chart ignores while hubble.tls.auto is on). */
const USER_SECRET = `user-secret-${randomBytes(12).toString("hex")}`;
const userValues = [
  "--set",
  "ipam.mode=kubernetes",
  "--set",
  "hubble.relay.enabled=true",
  "--set",
  "hubble.ui.enabled=true",
  "--set",
  "hubble.metrics.enabled={dns,drop,tcp}",
  "--set",
  "nodeSelector.kubernetes\\.io/os=linux",
  "--set-string",
  `hubble.tls.server.key=${USER_SECRET}`,
];

function helmInstall(namespace: string, version: string): void {
  helm("install", "cilium", chartPath(version), "--namespace", namespace, ...userValues, "--wait", "--timeout", "5m");
}

/** `helm get values -o json`: what the release's users set (plus, after adoption, ours). */
const helmValues = (namespace: string) => JSON.parse(helm("get", "values", "cilium", "--namespace", namespace, "--output", "json")) as Record<string, any>;
const helmRevision = (namespace: string) => JSON.parse(helm("status", "cilium", "--namespace", namespace, "--output", "json")).version as number;
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** Everything but the values the program owns. */
function withoutOurs(values: Record<string, any>): Record<string, any> {
  const { encryption: _e, rollOutCiliumPods: _r, ...rest } = values;
  return rest;
}

function createKeySecret(namespace: string, line: string): void {
  // The line goes through stdin, never on a command line.
  const secret = { apiVersion: "v1", kind: "Secret", type: "Opaque", metadata: { name: "cilium-ipsec-keys", namespace }, stringData: { keys: line } };
  execFileSync("kubectl", ["--kubeconfig", process.env.E2E_KUBECONFIG!, "create", "-f", "-"], {
    input: JSON.stringify(secret),
    stdio: ["pipe", "ignore", "pipe"],
  });
}

function unprotectAndDestroy(t: TestStack) {
  execFileSync("pulumi", ["state", "unprotect", "--all", "--yes", "--stack", t.name], { cwd: PROJECT_DIR, stdio: "ignore" });
  return t.stack.destroy({ color: "never" });
}

// Agents keep the old key this long after a rotation; the verification waits for that.
const ipsec = (keyId: number) => ({ type: "ipsec", ipsec: { keyId, keyRotationDuration: "20s" } });

describe("adopting an IPsec-less Cilium release and a hand-made key Secret", () => {
  let t: TestStack;
  let before_: { values: Record<string, any>; revision: number };
  let keyHash = "";
  let keyUid = "";
  /** Engine events before this index belong to the adopting preview and up. */
  let adoptionEvents = 0;

  before(async () => {
    t = await newStack("adopt-ipsec", stackConfig("ns-adopt-ipsec", ipsec(2)));
    helmInstall(t.namespace, "1.20.2");
    // A valid 20-byte AES-128-GCM key with id 2, as a user following the docs would create it.
    createKeySecret(t.namespace, `2+ rfc4106(gcm(aes)) ${randomBytes(20).toString("hex")} 128`);
    const live = livePsk(t.namespace);
    [keyHash, keyUid] = [sha256(live.line), live.uid];
    before_ = { values: helmValues(t.namespace), revision: helmRevision(t.namespace) };
    console.log(`release values before adoption (user secret redacted): ${JSON.stringify(before_.values).replace(USER_SECRET, "<redacted>")}`);
  });
  after(async () => {
    await t?.remove();
  });

  it("preview says which values change and that the key is kept, and shows no value of the users", async () => {
    const preview = await t.preview();
    const text = t.output.join("");
    assert.match(text, /adopting the Helm release ns-adopt-ipsec\/cilium \(chart 1\.20\.2, revision 1; pulumi destroy leaves it installed\): 7 value changes/);
    for (const line of [
      "encryption.enabled: set to true",
      'encryption.type: set to "ipsec"',
      'encryption.ipsec.secretName: set to "cilium-ipsec-keys"',
      "rollOutCiliumPods: set to true",
    ]) {
      assert.ok(text.includes(line), `preview lacks "${line}"`);
    }
    assert.match(text, /keeping the key in ns-adopt-ipsec\/cilium-ipsec-keys as it is \(id 2, aes-128-gcm\)/);
    assert.ok(!text.includes(USER_SECRET), "a user value was printed");
    assert.ok((preview.changeSummary.import ?? 0) >= 1, `no import in ${JSON.stringify(preview.changeSummary)}`);
    assert.equal(helmRevision(t.namespace), before_.revision, "preview changed the release");
  });

  it("one up turns IPsec on with the users' values unchanged and the key kept as it is", async () => {
    const up = await t.up();
    assert.equal(up.summary.result, "succeeded");
    const after_ = helmValues(t.namespace);
    console.log(`release values after adoption (user secret redacted): ${JSON.stringify(after_).replace(USER_SECRET, "<redacted>")}`);
    assert.deepEqual(withoutOurs(after_), before_.values, "a value other than the encryption values changed");
    assert.deepEqual(after_.encryption, {
      enabled: true,
      type: "ipsec",
      ipsec: { secretName: "cilium-ipsec-keys", keyFile: "keys", keyRotationDuration: "20s", keyWatcher: true },
    });
    assert.equal(helmRevision(t.namespace), before_.revision + 1, "adopted in place: one upgrade, no reinstall");
    const live = livePsk(t.namespace);
    assert.equal(sha256(live.line), keyHash, "the key changed");
    assert.equal(live.uid, keyUid, "the Secret was replaced");
    assert.equal(up.outputs.keyId!.value, 2);
    assert.equal(up.outputs.ipsecKeyAdopted!.value, true);
    assert.equal(up.outputs.release!.value.adopted, true);
    assert.equal(up.outputs.verification!.value.verdict, "verified");
    assert.equal(kubectlJson("get", "configmap", "cilium-config", "-n", t.namespace).data["enable-ipsec"], "true");
  });

  it("the next up and preview change nothing", async () => {
    adoptionEvents = t.events.length;
    const again = await t.up();
    const changed = Object.entries(again.summary.resourceChanges ?? {}).filter(([op, n]) => !["same", "read"].includes(op) && n > 0);
    assert.deepEqual(changed, []);
    await t.preview({ expectNoChanges: true });
  });

  it("the users' values and the key stay out of state and printed output; events carry the values only where the import read them", () => {
    const hex = parseKeyLine(livePsk(t.namespace).line).hex;
    const places: Record<string, string> = { "state backend": backendText(), "engine output": t.output.join(""), "engine events": JSON.stringify(t.events) };
    for (const [where, text] of Object.entries(places)) assert.ok(!text.includes(hex), `the key found in ${where}`);
    for (const where of ["state backend", "engine output"]) assert.ok(!places[where]!.includes(USER_SECRET), `a user value found in ${where}`);
    // The provider's import reads the release's values in plain text into the imported state's inputs
    // (pulumi-kubernetes provider/pkg/provider/helm_release.go Read: setReleaseAttributes, serializeImportInputs);
    // from then on the stack holds them as a secret.
    const paths = (v: unknown, at: string): string[] =>
      typeof v === "string"
        ? v.includes(USER_SECRET)
          ? [at]
          : []
        : v !== null && typeof v === "object"
          ? Object.entries(v).flatMap(([k, x]) => paths(x, `${at}.${k}`))
          : [];
    const hits = t.events.flatMap((e, i) => paths(e, "").map((p) => ({ i, p })));
    assert.ok(hits.length > 0, "the import read nothing: this test would not notice a change");
    for (const { i, p } of hits) {
      assert.ok(i < adoptionEvents, `a user value in an event of a later run: ${p}`);
      assert.match(p, /^\.res(OutputsEvent|ourcePreEvent)\.metadata\.(old|new)\.inputs\.values\.hubble\.tls\.server\.key$/);
    }
  });

  it("a key id bump rotates to a generated key in place", async () => {
    t.setConfig(stackConfig(t.namespace, ipsec(3)));
    const up = await t.up();
    const live = livePsk(t.namespace);
    assert.equal(parseKeyLine(live.line).keyId, 3);
    assert.notEqual(sha256(live.line), keyHash);
    assert.equal(live.uid, keyUid, "updated in place");
    assert.equal(up.outputs.ipsecKeyAdopted!.value, false);
    assert.equal(up.outputs.verification!.value.verdict, "verified");
    assert.deepEqual(withoutOurs(helmValues(t.namespace)), before_.values);
  });

  it("destroy leaves Cilium installed and running, with its key", async () => {
    const revision = helmRevision(t.namespace);
    await unprotectAndDestroy(t);
    assert.equal(JSON.parse(helm("status", "cilium", "--namespace", t.namespace, "--output", "json")).info.status, "deployed");
    assert.equal(helmRevision(t.namespace), revision, "destroy touched the release");
    const ds = kubectlJson("get", "daemonset", "cilium", "-n", t.namespace);
    assert.equal(ds.status.numberReady, ds.status.desiredNumberScheduled, "agents not running");
    assert.ok(exists("secret", "cilium-ipsec-keys", t.namespace), "the key Secret was deleted under a running IPsec Cilium");
    assert.equal(helmValues(t.namespace).encryption.enabled, true);
  });
});

describe("adopting a Cilium release of an older chart with WireGuard", () => {
  let t: TestStack;
  let beforeValues: Record<string, any>;

  before(async () => {
    t = await newStack("adopt-wg", stackConfig("ns-adopt-wg", { type: "wireguard" }));
    helmInstall(t.namespace, "1.19.7");
    beforeValues = helmValues(t.namespace);
  });
  after(async () => {
    await t?.remove();
  });

  it("a chart version other than cilium.version is refused with what to do", async () => {
    await assert.rejects(t.preview(), /runs chart 1\.19\.7, the stack pins 1\.20\.2\. Set cilium\.version to 1\.19\.7 .*allowChartUpgrade/);
  });

  it("with the pin matching, one up turns WireGuard on and changes nothing else", async () => {
    t.setConfig(stackConfig(t.namespace, { type: "wireguard" }, {}, "1.19.7"));
    const up = await t.up();
    assert.equal(up.outputs.verification!.value.verdict, "verified");
    assert.equal(up.outputs.release!.value.adopted, true);
    const after_ = helmValues(t.namespace);
    assert.deepEqual(withoutOurs(after_), beforeValues);
    assert.deepEqual([after_.encryption.enabled, after_.encryption.type], [true, "wireguard"]);
    assert.equal(kubectlJson("get", "configmap", "cilium-config", "-n", t.namespace).data["enable-wireguard"], "true");
  });

  it("destroy leaves it installed", async () => {
    await t.stack.destroy({ color: "never" });
    assert.equal(JSON.parse(helm("status", "cilium", "--namespace", t.namespace, "--output", "json")).info.status, "deployed");
    assert.ok(exists("daemonset", "cilium", t.namespace));
  });
});

describe("keys and installs the program will not take over", () => {
  const stacks: TestStack[] = [];
  after(async () => {
    for (const t of stacks) await t.remove();
  });

  it("a 16-byte key is refused with its fix; the fix replaces it with a generated key", async () => {
    const t = await newStack("adopt-16", stackConfig("ns-adopt-16", ipsec(4)));
    stacks.push(t);
    createKeySecret(t.namespace, `4+ rfc4106(gcm(aes)) ${randomBytes(16).toString("hex")} 128`);
    const hash = sha256(livePsk(t.namespace).line);
    await assert.rejects(t.up(), /key in ns-adopt-16\/cilium-ipsec-keys cannot be kept: its key is 16 bytes.*Fix: set encryption\.ipsec\.keyId to 5/s);
    assert.equal(sha256(livePsk(t.namespace).line), hash, "the refused run changed the key");
    assert.ok(!exists("daemonset", "cilium", t.namespace), "the refused run installed Cilium");

    t.setConfig(stackConfig(t.namespace, ipsec(5)));
    const up = await t.up();
    const key = parseKeyLine(livePsk(t.namespace).line);
    assert.deepEqual([key.keyId, key.hex.length], [5, 40]);
    assert.equal(up.outputs.release!.value.adopted, false, "no release existed: installed");
  });

  it("a Cilium DaemonSet that no Helm release owns is refused with what the program needs", async () => {
    const t = await newStack("adopt-manual", stackConfig("ns-adopt-manual", { type: "wireguard" }));
    stacks.push(t);
    const ds = {
      apiVersion: "apps/v1",
      kind: "DaemonSet",
      metadata: { name: "cilium", namespace: t.namespace, labels: { "k8s-app": "cilium" } },
      spec: {
        selector: { matchLabels: { "k8s-app": "cilium" } },
        template: { metadata: { labels: { "k8s-app": "cilium" } }, spec: { containers: [{ name: "cilium-agent", image: "quay.io/cilium/cilium:v1.20.2" }] } },
      },
    };
    execFileSync("kubectl", ["--kubeconfig", process.env.E2E_KUBECONFIG!, "apply", "-f", "-"], {
      input: JSON.stringify(ds),
      stdio: ["pipe", "ignore", "pipe"],
    });
    await assert.rejects(t.preview(), /DaemonSet ns-adopt-manual\/cilium is not part of a Helm release.*--take-ownership/s);
    kubectl("delete", "daemonset", "cilium", "-n", t.namespace, "--wait=false");
  });
});
