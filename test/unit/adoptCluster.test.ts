import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import * as pulumi from "@pulumi/pulumi";
import { clusterReadError, type Kubectl, kubectlReason, readCluster, readClusterWithKubectl } from "../../adopt/cluster";
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

  it("a kubectl failure stops the run with a message and no trace, kubectl's words hidden when the cluster settings are secret", async () => {
    const failing: Kubectl = async () => ({ ok: false, reason: "error: context ctx-secret: something odd" });
    await assert.rejects(readCluster(failing, settings()), (e: Error) => {
      assert.ok(e instanceof pulumi.RunError, "a RunError prints its message alone");
      assert.match(
        e.message,
        /^cannot (list|get) .*: kubectl failed: check cilium-encryption:cluster\.kubeconfig .*; kubectl said: error: context ctx-secret: something odd$/,
      );
      return true;
    });
    await assert.rejects(readCluster(failing, { ...settings(), clusterIsSecret: true }), (e: Error) => {
      assert.ok(!e.message.includes("ctx-secret"), e.message);
      assert.match(e.message, /\(kubectl's message is not shown: the stack's cluster settings are secret\)$/);
      return true;
    });
  });

  it("output that is not JSON is a message, not a parser's trace", async () => {
    await assert.rejects(
      readCluster(async () => ({ ok: true, stdout: "<html>" }), settings()),
      (e: Error) => {
        assert.ok(e instanceof pulumi.RunError);
        assert.match(e.message, /kubectl printed something that is not JSON/);
        return true;
      },
    );
  });
});

describe("why the cluster could not be read", () => {
  const unset = settings();
  const set = settings({ kubeconfig: "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: https://127.0.0.1:6443}\n", context: "ctx-a" });
  const fail = (reason: string, cause?: "missing" | "timeout") => ({ ok: false as const, reason, ...(cause ? { cause } : {}) });
  const cases: Array<{ what: string; failure: ReturnType<typeof fail>; s: typeof unset; message: string }> = [
    {
      what: "no kubectl",
      failure: fail("", "missing"),
      s: unset,
      message:
        "cannot list X: kubectl is not on PATH; the program reads the cluster with it before it plans anything: install kubectl (within one minor version of the API server)",
    },
    {
      what: "no answer",
      failure: fail("", "timeout"),
      s: set,
      message:
        "cannot list X: kubectl had no answer within 60 s: check that cilium-encryption:cluster.kubeconfig (set) and cilium-encryption:cluster.context (set) select the cluster you mean and that its API server is reachable from here",
    },
    {
      what: "a context the kubeconfig lacks",
      failure: fail("Error in configuration: context was not found for specified context: ctx-a"),
      s: set,
      message:
        "cannot list X: the kubeconfig has no context of the name cilium-encryption:cluster.context gives: set it to one that `kubectl config get-contexts` lists for cilium-encryption:cluster.kubeconfig; kubectl said: Error in configuration: context was not found for specified context: ctx-a",
    },
    {
      what: "a current context that does not exist",
      failure: fail('error: current-context "gone" does not exist; context "gone" does not exist'),
      s: unset,
      message:
        'cannot list X: the kubeconfig\'s current context does not exist: set cilium-encryption:cluster.context to one that `kubectl config get-contexts` lists; kubectl said: error: current-context "gone" does not exist; context "gone" does not exist',
    },
    {
      what: "a kubeconfig kubectl cannot load",
      failure: fail('error: error loading config file "/x": yaml: line 1: did not find expected node content'),
      s: unset,
      message:
        'cannot list X: kubectl cannot use the kubeconfig: check cilium-encryption:cluster.kubeconfig (not set: $KUBECONFIG or ~/.kube/config); kubectl said: error: error loading config file "/x": yaml: line 1: did not find expected node content',
    },
    {
      what: "no kubeconfig at all",
      failure: fail("The connection to the server localhost:8080 was refused - did you specify the right host or port?"),
      s: unset,
      message:
        "cannot list X: kubectl found no kubeconfig: set cilium-encryption:cluster.kubeconfig, or $KUBECONFIG, or write ~/.kube/config; kubectl said: The connection to the server localhost:8080 was refused - did you specify the right host or port?",
    },
    {
      what: "an unreachable API server",
      failure: fail("The connection to the server 127.0.0.1:1 was refused - did you specify the right host or port?"),
      s: set,
      message:
        "cannot list X: the API server is unreachable: check that cilium-encryption:cluster.kubeconfig (set) and cilium-encryption:cluster.context (set) select the cluster you mean and that its API server is up and reachable from here; kubectl said: The connection to the server 127.0.0.1:1 was refused - did you specify the right host or port?",
    },
    {
      what: "an untrusted certificate",
      failure: fail("Unable to connect to the server: tls: failed to verify certificate: x509: certificate signed by unknown authority"),
      s: set,
      message:
        "cannot list X: the API server's certificate is not the one the kubeconfig trusts: check cilium-encryption:cluster.kubeconfig and cilium-encryption:cluster.context; kubectl said: Unable to connect to the server: tls: failed to verify certificate: x509: certificate signed by unknown authority",
    },
    {
      what: "refused credentials",
      failure: fail("error: You must be logged in to the server (Unauthorized)"),
      s: set,
      message:
        "cannot list X: the API server refused the kubeconfig's credentials (an expired token or certificate?): check the user of cilium-encryption:cluster.context in cilium-encryption:cluster.kubeconfig; kubectl said: error: You must be logged in to the server (Unauthorized)",
    },
    {
      what: "a missing RBAC rule",
      failure: fail(
        'Error from server (Forbidden): secrets is forbidden: User "u" cannot list resource "secrets" in API group "" in the namespace "kube-system"',
      ),
      s: set,
      message:
        'cannot list X: the kubeconfig\'s user may not list X: grant it the rules README.md lists for `pulumi preview` (section "CI and its credentials"); kubectl said: Error from server (Forbidden): secrets is forbidden: User "u" cannot list resource "secrets" in API group "" in the namespace "kube-system"',
    },
  ];
  for (const c of cases) {
    it(`${c.what}: names what to check`, () => assert.equal(clusterReadError("list X", c.failure, c.s), c.message));
  }

  it("kubectl's reason without client-go's repeated discovery log lines", () => {
    const stderr =
      'E1207 02:06:06.169560   12621 memcache.go:265] "Unhandled Error" err="couldn\'t get current server API group list"\nE1207 02:06:06.171043   12621 memcache.go:265] "x"\nThe connection to the server 127.0.0.1:1 was refused - did you specify the right host or port?\n';
    assert.equal(kubectlReason(stderr), "The connection to the server 127.0.0.1:1 was refused - did you specify the right host or port?");
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

  // Fails with the stderr a test writes to FAULT.
  const failing = join(dir, "failing");
  mkdirSync(failing);
  writeFileSync(join(failing, "kubectl"), `#!/bin/sh\ncat "${dir}/fault" >&2\nexit 1\n`);
  chmodSync(join(failing, "kubectl"), 0o755);
  // kubectl 1.32's own words for each failure, client-go's discovery log lines included.
  const FAULTS: Record<string, string> = {
    unreachable: [
      'E1207 02:06:06.169560   12621 memcache.go:265] "Unhandled Error" err="couldn\'t get current server API group list: Get \\"https://127.0.0.1:1/api?timeout=32s\\": dial tcp 127.0.0.1:1: connect: connection refused"',
      "The connection to the server 127.0.0.1:1 was refused - did you specify the right host or port?",
    ].join("\n"),
    context: "Error in configuration: context was not found for specified context: ctx-secret",
    forbidden:
      'Error from server (Forbidden): daemonsets.apps is forbidden: User "system:serviceaccount:default:ci" cannot list resource "daemonsets" in API group "apps" at the cluster scope',
  };
  const withPath = async (path: string, run: () => Promise<unknown>) => {
    const saved = process.env.PATH;
    process.env.PATH = path;
    try {
      await run();
    } finally {
      process.env.PATH = saved;
    }
  };
  const refused = (fault: string, s: ReturnType<typeof settings>, message: RegExp) =>
    withPath(`${failing}:${process.env.PATH}`, async () => {
      writeFileSync(join(dir, "fault"), `${FAULTS[fault]}\n`);
      await assert.rejects(readClusterWithKubectl(s), (e: Error) => {
        assert.ok(e instanceof pulumi.RunError, "a RunError prints its message alone, no stack trace");
        assert.match(e.message, message);
        return true;
      });
    });

  it("no kubectl on PATH: a message saying so", () =>
    withPath(join(dir, "empty-path"), () =>
      assert.rejects(
        readClusterWithKubectl(settings()),
        (e: Error) => e instanceof pulumi.RunError && /: kubectl is not on PATH; .*install kubectl/.test(e.message),
      ),
    ));

  it("an unreachable API server: the settings named, kubectl's last line without its log noise", () =>
    refused(
      "unreachable",
      settings({ kubeconfig: secretKubeconfig }),
      /^cannot (list|get) [^:]*: the API server is unreachable: check that cilium-encryption:cluster\.kubeconfig \(set\) and cilium-encryption:cluster\.context \(not set: the kubeconfig's current context\) select the cluster you mean and that its API server is up and reachable from here; kubectl said: The connection to the server 127\.0\.0\.1:1 was refused - did you specify the right host or port\?$/,
    ));

  it("a context the kubeconfig lacks: cluster.context named; a secret one not shown", async () => {
    await refused(
      "context",
      settings({ kubeconfig: secretKubeconfig, context: "ctx-secret" }),
      /the kubeconfig has no context of the name cilium-encryption:cluster\.context gives/,
    );
    await refused(
      "context",
      { ...settings({ kubeconfig: secretKubeconfig, context: "ctx-secret" }), clusterIsSecret: true },
      /^(?!.*ctx-secret).*the kubeconfig has no context of the name cilium-encryption:cluster\.context gives.*\(kubectl's message is not shown: the stack's cluster settings are secret\)$/,
    );
  });

  it("a missing RBAC rule: what the program could not do, and where the rules are", () =>
    refused(
      "forbidden",
      settings({ kubeconfig: secretKubeconfig }),
      /the kubeconfig's user may not (list|get) .*: grant it the rules README\.md lists for `pulumi preview`/,
    ));
});
