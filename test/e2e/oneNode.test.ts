/**
 * Verifier rules that only a real deployment can show, on a one-node cluster of Cilium 1.19: no IPsec
 * key in use (no remote node) is healthy although 1.19's `encrypt status` then omits its ipsec member;
 * an agent that does not answer leaves the node unverified with the agent's own message.
 */
import "./oneNode";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { agentFault, CILIUM_VERSIONS, clearAgentFaults, kubeconfig, kubectlJson, newStack, PROJECT_DIR, stackConfig, type TestStack } from "./harness";
import { writeServiceAccountKubeconfig } from "./rbac";

const VERSION = CILIUM_VERSIONS.find((v) => v.startsWith("1.19."))!;
let t: TestStack;

function verify(): { code: number; report: any; stderr: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", "verifier/main.ts", "--stack", t.name], { cwd: PROJECT_DIR, encoding: "utf8", env: process.env });
  return { code: r.status ?? -1, report: JSON.parse(r.stdout), stderr: r.stderr };
}

describe(`one node, Cilium ${VERSION}`, () => {
  before(async () => {
    clearAgentFaults();
    const config = stackConfig("ns-one", { type: "ipsec", ipsec: { keyId: 1 } }, {}, VERSION);
    // The chart's two operator replicas must run on distinct nodes; one node holds one.
    t = await newStack("one", { ...config, cilium: { ...config.cilium, values: { operator: { replicas: 1 } } } });
  });
  after(async () => {
    clearAgentFaults();
    await t?.remove();
  });

  it("IPsec with no remote node, so no key in use, is verified", async () => {
    assert.equal(kubectlJson("get", "nodes").items.length, 1);
    const up = await t.up();
    const report = up.outputs.verification!.value;
    assert.equal(report.verdict, "verified", JSON.stringify(report));
    assert.equal(report.nodeCounts.ok, 1);
  });

  it("a role with create but not get on pods/exec: exec over WebSocket is refused, the verifier falls back to kubectl exec and verifies", () => {
    // What the verifier reads, and pods/exec with the verb kubectl's SPDY exec needs, not the GET of WebSocket exec.
    const rules = [
      { apiGroups: [""], resources: ["nodes", "pods", "configmaps"], verbs: ["get", "list"] },
      { apiGroups: ["apps"], resources: ["daemonsets"], verbs: ["get"] },
      { apiGroups: ["cilium.io"], resources: ["ciliumnodes"], verbs: ["get", "list"] },
      { apiGroups: [""], resources: ["pods/exec"], verbs: ["create"] },
    ];
    const name = "verifier-exec-create-only";
    const subject = { kind: "ServiceAccount", name, namespace: "default" };
    const objects = [
      { apiVersion: "v1", kind: "ServiceAccount", metadata: { name, namespace: "default" } },
      { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name }, rules },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRoleBinding",
        metadata: { name },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
        subjects: [subject],
      },
    ];
    execFileSync("kubectl", ["--kubeconfig", kubeconfig(), "apply", "-f", "-"], {
      input: JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }),
      stdio: ["pipe", "ignore", "pipe"],
    });
    const file = join(mkdtempSync(join(tmpdir(), "create-only-")), "kubeconfig");
    writeServiceAccountKubeconfig(name, file);
    const r = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "verifier/main.ts",
        "--mode",
        "ipsec",
        "--namespace",
        "ns-one",
        "--cilium-version",
        VERSION,
        "--kubeconfig",
        file,
        "--wire-check",
        "off",
      ],
      { cwd: PROJECT_DIR, encoding: "utf8", env: process.env },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stderr,
      /exec over WebSocket refused \(Error from server \(Forbidden\): [^\n]*cannot get resource "pods\/exec"[^\n]*\); running kubectl exec per command instead/,
    );
    assert.equal(JSON.parse(r.stdout).verdict, "verified");
  });

  it("an agent that does not answer leaves the node unverified, with the agent's message", () => {
    agentFault("node-a", { agentDown: true });
    const r = verify();
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /UNVERIFIED node-a[^\n]*cilium\.sock: connect: connection refused/);
  });
});
