/**
 * The cluster connection as the program can carry it: inline kubeconfig contents only when they read
 * as a kubeconfig, and contents and context no larger than one environment variable execve passes on.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import fc from "fast-check";
import { stringify } from "yaml";
import { verifierCommand } from "../../components/encryptionVerification";
import { kubeconfigContentsProblem } from "../../config/files";
import { KUBECONFIG_DATA_ENV, MAX_CONTEXT_BYTES, MAX_INLINE_KUBECONFIG_BYTES } from "../../config/settings";
import { CONTEXT_ENV } from "../../verifier/args";
import type { VerifierInvocation } from "../../verifier/invocation";

const MARKER = "tok-x9q-secret";
const kubeconfig = (token: string) => ({
  apiVersion: "v1",
  kind: "Config",
  clusters: [{ name: "c", cluster: { server: "https://127.0.0.1:6443" } }],
  users: [{ name: "u", user: { token } }],
  contexts: [{ name: "x", context: { cluster: "c", user: "u" } }],
  "current-context": "x",
});

describe("inline kubeconfig contents", () => {
  it("reads YAML and JSON kubeconfigs holding any token (property)", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 60 }), (token) => {
        assert.equal(kubeconfigContentsProblem(stringify(kubeconfig(token))), undefined);
        assert.equal(kubeconfigContentsProblem(JSON.stringify(kubeconfig(token))), undefined);
      }),
      { numRuns: 40 },
    );
    assert.equal(kubeconfigContentsProblem("clusters:\n- name: c\n"), undefined, "the minimum: one cluster");
  });

  it("says why other text is not one, without quoting it", () => {
    const cases: Array<[string, RegExp]> = [
      ["{", /^is not valid YAML or JSON \(line 1, column 2\)$/],
      [`apiVersion: v1\nusers: [{name: u, user: {token: ${MARKER}]\n`, /^is not valid YAML or JSON \(line \d+, column \d+\)$/],
      ["apiVersion: v1\n---\napiVersion: v1\n", /^is not valid YAML or JSON/],
      ["\t\tapiVersion: v1\n", /^is not valid YAML or JSON/],
      ["\n", /^is not a YAML or JSON mapping$/],
      [`- ${MARKER}\n- b\n`, /^is not a YAML or JSON mapping$/],
      [
        `server: https://example\ntoken: ${MARKER}\n`,
        /^has none of a kubeconfig's keys \(apiVersion, kind, preferences, clusters, users, contexts, current-context, extensions\)$/,
      ],
      ["apiVersion:", /^has no clusters, so nothing to connect to$/],
      ["apiVersion: v1\nusers: []\n", /^has no clusters/],
      [`apiVersion: v2\nclusters: [{name: ${MARKER}}]\n`, /^has an apiVersion other than v1/],
      ["kind: Pod\nclusters: [{name: c}]\n", /^has a kind other than Config$/],
      [`{"clusters": "${MARKER}"}`, /^has clusters that is not a list of mappings$/],
      [`clusters: [${MARKER}]\n`, /^has clusters that is not a list of mappings$/],
      ["clusters: [{name: c}]\nusers: {}\n", /^has users that is not a list of mappings$/],
      ["clusters: [{name: c}]\ncurrent-context: [a]\n", /^has a current-context that is not a string$/],
      [`${"[".repeat(20_000)}${"]".repeat(20_000)}`, /^is not (valid YAML or JSON|a YAML or JSON mapping)/],
    ];
    for (const [text, message] of cases) {
      const problem = kubeconfigContentsProblem(text);
      assert.match(problem ?? "(none)", message, JSON.stringify(text.slice(0, 60)));
      assert.ok(!problem!.includes(MARKER), problem);
    }
  });
});

const base: VerifierInvocation = { mode: "wireguard", namespace: "kube-system", ciliumVersion: "1.20.2", timeoutSeconds: 600, wireCheck: false };
const where = { home: "/home/u", cwd: "/" };

/** Runs a shell with the verification command's environment and prints the byte length of one variable, as the verifier's shell would get it. */
function passOn(environment: Record<string, string>, name: string): { bytes?: number; error?: string } {
  const r = spawnSync("/bin/sh", ["-c", `printf %s "$${name}" | wc -c`], { env: { PATH: "/usr/bin:/bin", ...environment }, encoding: "utf8" });
  return r.error === undefined ? { bytes: Number(r.stdout.trim()) } : { error: (r.error as NodeJS.ErrnoException).code ?? String(r.error) };
}

/** Kubeconfig contents of exactly `bytes` bytes that read as a kubeconfig. */
function contentsOf(bytes: number): string {
  const head = stringify(kubeconfig(MARKER));
  const text = `${head}preferences: {}\nextensions: []\n# ${"a".repeat(bytes - Buffer.byteLength(head) - 34)}\n`;
  assert.equal(Buffer.byteLength(text), bytes);
  return text;
}

describe("the environment the verification hands the connection in", () => {
  it("computes the limits for the variables the command sets", () => {
    assert.equal(MAX_INLINE_KUBECONFIG_BYTES, 131072 - `${KUBECONFIG_DATA_ENV}=`.length - 1);
    assert.equal(MAX_CONTEXT_BYTES, 131072 - `${CONTEXT_ENV}=`.length - 1);
  });

  it("carries inline contents of the largest allowed size, and Linux refuses one byte more (E2BIG)", () => {
    const largest = contentsOf(MAX_INLINE_KUBECONFIG_BYTES);
    assert.equal(kubeconfigContentsProblem(largest), undefined);
    const { environment } = verifierCommand({ ...base, kubeconfig: largest }, where);
    assert.deepEqual(passOn(environment, KUBECONFIG_DATA_ENV), { bytes: MAX_INLINE_KUBECONFIG_BYTES });
    const over = verifierCommand({ ...base, kubeconfig: `${largest}#` }, where).environment;
    assert.deepEqual(passOn(over, KUBECONFIG_DATA_ENV), { error: "E2BIG" });
  });

  it("carries a context of the largest allowed size, and Linux refuses one byte more (E2BIG)", () => {
    const kc = "/dev/null";
    const largest = verifierCommand({ ...base, kubeconfig: kc, context: "c".repeat(MAX_CONTEXT_BYTES) }, where).environment;
    assert.deepEqual(passOn(largest, CONTEXT_ENV), { bytes: MAX_CONTEXT_BYTES });
    const over = verifierCommand({ ...base, kubeconfig: kc, context: "c".repeat(MAX_CONTEXT_BYTES + 1) }, where).environment;
    assert.deepEqual(passOn(over, CONTEXT_ENV), { error: "E2BIG" });
  });
});
