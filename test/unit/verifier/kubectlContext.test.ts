import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { parse } from "yaml";
import { KubeconfigError, kubeconfigFor } from "../../../verifier/kubectl";

const dir = mkdtempSync(join(tmpdir(), "kubectl-context-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const kubeconfig = join(dir, "config");
writeFileSync(
  kubeconfig,
  `apiVersion: v1
kind: Config
clusters:
- {name: a, cluster: {server: "https://127.0.0.1:1"}}
- {name: b, cluster: {server: "https://127.0.0.1:2"}}
users:
- {name: u, user: {token: t}}
contexts:
- {name: one, context: {cluster: a, user: u}}
- {name: "secret ctx", context: {cluster: b, user: u}}
current-context: one
`,
);

describe("kubectl context", () => {
  it("becomes the current-context of a private copy of the kubeconfig, so it is never a kubectl argument", () => {
    const file = kubeconfigFor({ kubeconfig, context: "secret ctx" })!;
    const doc = parse(readFileSync(file, "utf8"));
    assert.equal(doc["current-context"], "secret ctx");
    assert.equal(doc.clusters.length, 2, "the whole kubeconfig is kept");
    assert.equal(statSync(file).mode & 0o777, 0o600);
  });

  it("puts inline kubeconfig contents into a private file instead of a kubectl argument", () => {
    const contents = readFileSync(kubeconfig, "utf8");
    const file = kubeconfigFor({ kubeconfig: contents, context: null })!;
    assert.notEqual(file, contents);
    assert.equal(readFileSync(file, "utf8"), contents);
    assert.equal(statSync(file).mode & 0o777, 0o600);
  });

  it("refuses a context the kubeconfig does not have, without naming it", () => {
    assert.throws(
      () => kubeconfigFor({ kubeconfig, context: "ctx-that-is-not-there" }),
      (e: Error) => !e.message.includes("ctx-that-is-not-there") && /no such context/.test(e.message),
    );
  });

  it("a kubeconfig kubectl cannot read is the kubeconfig setting's error, with kubectl's reason but not the file's path", () => {
    const broken = join(dir, "kubeconfig-secret-path-q8w2");
    writeFileSync(broken, "apiVersion: v1\nclusters: [\n");
    assert.throws(
      () => kubeconfigFor({ kubeconfig: broken, context: "one" }),
      (e: unknown) =>
        e instanceof KubeconfigError &&
        e.setting === "kubeconfig" &&
        /^kubectl cannot read the kubeconfig: error loading config file "<the kubeconfig>": yaml: /.test(e.message) &&
        !e.message.includes("q8w2"),
    );
    assert.throws(
      () => kubeconfigFor({ kubeconfig, context: "ctx-that-is-not-there" }),
      (e: unknown) => e instanceof KubeconfigError && e.setting === "context",
    );
  });
});
