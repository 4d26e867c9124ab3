import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import * as pulumi from "@pulumi/pulumi";
import { type Kubectl, readCluster, readClusterWithKubectl } from "../../adopt/cluster";
import { parseSettings } from "../../config/settings";
import { asPulumiConfig } from "./mockProgram";

const settings = (cluster: Record<string, unknown> = {}) =>
  parseSettings(asPulumiConfig({ encryption: { type: "ipsec", ipsec: { keyId: 2 } }, cilium: { version: "1.20.2" }, cluster }));
const LINE = `2+ rfc4106(gcm(aes)) ${"9c".repeat(20)} 128`;
const b64 = (s: string | Buffer) => Buffer.from(s).toString("base64");

function record(version: number, config: unknown) {
  const release = {
    name: "cilium",
    namespace: "kube-system",
    version,
    info: { status: "deployed" },
    chart: { metadata: { name: "cilium", version: "1.20.2" } },
    config,
  };
  return {
    metadata: { name: `sh.helm.release.v1.cilium.v${version}`, namespace: "kube-system", labels: { owner: "helm", name: "cilium", version: String(version) } },
    data: { release: b64(b64(gzipSync(JSON.stringify(release)))) },
  };
}

/** What the three kubectl calls return, keyed by the kind they ask for. */
const answers = {
  secrets: { items: [record(1, { a: 1 }), record(2, { ipam: { mode: "kubernetes" } })] },
  daemonsets: {
    items: [
      {
        metadata: {
          name: "cilium",
          namespace: "kube-system",
          labels: { "k8s-app": "cilium", "app.kubernetes.io/managed-by": "Helm" },
          annotations: { "meta.helm.sh/release-name": "cilium" },
        },
      },
      { metadata: { name: "cilium", namespace: "other", labels: { "k8s-app": "cilium" } } },
    ],
  },
  secret: { data: { keys: b64(LINE) } },
};
const fake =
  (over: Partial<Record<keyof typeof answers, unknown>> = {}): Kubectl =>
  async (args) => {
    const kind = args[1] as keyof typeof answers;
    const answer = kind in over ? over[kind] : answers[kind];
    return { ok: true, stdout: answer === undefined ? "" : JSON.stringify(answer) };
  };
const reveal = (o: pulumi.Output<string>) => new Promise<string>((resolve) => o.apply(resolve));

describe("reading the cluster", () => {
  it("finds the current release, the agents and their Helm ownership, and judges the key", async () => {
    const c = await readCluster(fake(), settings());
    assert.deepEqual([c.release?.revision, c.release?.config], [2, { ipam: { mode: "kubernetes" } }]);
    assert.deepEqual(c.agents, [
      { namespace: "kube-system", name: "cilium", helmRelease: "cilium" },
      { namespace: "other", name: "cilium" },
    ]);
    assert.deepEqual(c.ipsecSecret?.key?.judgement, { kind: "keep", keyId: 2, algorithm: "aes-128-gcm" });
  });

  it("hands the key line on only as a secret Output", async () => {
    const line = (await readCluster(fake(), settings())).ipsecSecret!.key!.line;
    assert.equal(await pulumi.isSecret(line), true);
    assert.equal(await reveal(line), LINE);
  });

  it("tells a missing Secret from one without the key file", async () => {
    assert.equal((await readCluster(fake({ secret: undefined }), settings())).ipsecSecret, undefined);
    assert.deepEqual((await readCluster(fake({ secret: { data: { other: b64("x") } } }), settings())).ipsecSecret, {});
    assert.deepEqual((await readCluster(fake({ secrets: { items: [] }, daemonsets: { items: [] } }), settings())).release, undefined);
  });

  it("a kubectl failure stops the run, its message hidden when the cluster settings are secret", async () => {
    const failing: Kubectl = async () => ({ ok: false, reason: 'context "ctx-secret" does not exist' });
    await assert.rejects(readCluster(failing, settings()), /cannot read the cluster \(kubectl get .*\): context "ctx-secret" does not exist/);
    await assert.rejects(
      readCluster(failing, { ...settings(), clusterIsSecret: true }),
      (e: Error) => !e.message.includes("ctx-secret") && /not shown/.test(e.message),
    );
  });
});

describe("kubectl with the stack's connection settings", () => {
  const dir = mkdtempSync(join(tmpdir(), "adopt-kubectl-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  // A kubectl that records its arguments and the current-context its KUBECONFIG files select.
  writeFileSync(
    join(dir, "kubectl"),
    `#!/bin/sh
printf '%s\\n' "$*" >> "${dir}/argv"
printf '%s\\n' "$KUBECONFIG" >> "${dir}/env"
case "$2" in secrets|daemonsets) echo '{"items":[]}' ;; esac
`,
  );
  chmodSync(join(dir, "kubectl"), 0o755);
  const secretKubeconfig = join(dir, "secret-kubeconfig");
  writeFileSync(secretKubeconfig, "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n");

  it("passes kubeconfig and context without putting either on a command line", async () => {
    const path = process.env.PATH;
    process.env.PATH = `${dir}:${path}`;
    try {
      await readClusterWithKubectl(settings({ kubeconfig: secretKubeconfig, context: "ctx-secret" }));
    } finally {
      process.env.PATH = path;
    }
    const argv = readFileSync(join(dir, "argv"), "utf8");
    assert.equal(argv.trim().split("\n").length, 3);
    assert.ok(!argv.includes("ctx-secret") && !argv.includes("secret-kubeconfig"), argv);
    const [first] = readFileSync(join(dir, "env"), "utf8").trim().split("\n");
    const [overlay, kubeconfig] = first!.split(":");
    assert.equal(kubeconfig, secretKubeconfig);
    assert.match(overlay!, /cilium-encryption-.*\/context$/);
  });
});
