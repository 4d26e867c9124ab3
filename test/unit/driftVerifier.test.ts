/**
 * drift --verify: why the verifier failed reaches the report (its error and its last stderr lines, in
 * text and JSON), and nothing of a secret `cluster` config does. The verifier runs for real, on a
 * stack whose `cluster` config is secret, with stand-ins for the Pulumi CLI and kubectl on PATH.
 */
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, describe, it } from "node:test";
import fc from "fast-check";
import {
  failureOutput,
  maskSecrets,
  STDERR_LINES,
  secretClusterStrings,
  secretsToMask,
  startVerifier,
  stderrTail,
  VerifierFailure,
  verifierOutcome,
} from "../../drift/main";
import { fakeEngine, fakeSecure, projectWithStack } from "./fakeEngine";

const PROJECT_DIR = resolve(__dirname, "../..");
const CONTEXT = "ctx-secret-5e1b";
const SERVER = "https://10.9.8.7:6443";
const INLINE = `apiVersion: v1\nkind: Config\nclusters:\n- name: c-secret-77\n  cluster: {server: "${SERVER}"}\nusers:\n- name: u\n  user: {token: tok-secret-31d0}\n`;

describe("the verifier's outcome", () => {
  const report = (r: object) => JSON.stringify(r);

  it("verified or not encrypted is a verdict", () => {
    assert.deepEqual(verifierOutcome(0, report({ verdict: "verified", wire: { verdict: "encrypted" } }), ""), {
      verdict: "verified",
      summary: "all agents and the wire check agree",
    });
    assert.deepEqual(verifierOutcome(1, report({ verdict: "not-encrypted", problems: [{ node: "n1", reason: "mode Disabled" }] }), ""), {
      verdict: "not-encrypted",
      summary: "n1: mode Disabled",
    });
  });

  it("could not verify: the report's error and the last stderr lines", () => {
    const out = verifierOutcome(2, report({ verdict: "unverified", error: "cannot read nodes" }), "verifier: round 1\nverifier: cannot read nodes, retrying\n");
    assert.ok(out instanceof VerifierFailure);
    assert.equal(out.message, "the verifier could not verify encryption: cannot read nodes");
    assert.deepEqual(out.stderr, ["verifier: round 1", "verifier: cannot read nodes, retrying"]);
    const byProblems = verifierOutcome(
      2,
      report({
        verdict: "unverified",
        problems: [
          { node: null, reason: "a" },
          { node: "n", reason: "b" },
        ],
      }),
      "",
    );
    assert.equal((byProblems as VerifierFailure).message, "the verifier could not verify encryption: a; b");
  });

  it("no report (a crash) or a signal is a failure, never a verdict", () => {
    const crash = verifierOutcome(2, "", "verify: TypeError: boom\n    at f (x.ts:1:1)\n    at g (y.ts:2:2)\n");
    assert.ok(crash instanceof VerifierFailure);
    assert.equal(crash.message, "the verifier ended (exit 2) without a report");
    assert.deepEqual(crash.stderr, ["verify: TypeError: boom"]);
    const badStack = verifierOutcome(
      2,
      "",
      "verify: --stack s: invalid stack config: ...\n\nusage: npm run verify -- --stack <name>\n  --mode <ipsec|wireguard>\n",
    );
    assert.deepEqual((badStack as VerifierFailure).stderr, ["verify: --stack s: invalid stack config: ..."], "the reason, not the usage after it");
    const killed = verifierOutcome(null, report({ verdict: "verified" }), "");
    assert.equal((killed as VerifierFailure).message, "the verifier could not verify encryption: exit abnormally");
  });

  it("stderr: at most the last lines, each bounded, no blank lines or stack frames", () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 1000 }), { maxLength: 60 }), (lines) => {
        const tail = stderrTail(lines.join("\n"));
        assert.ok(tail.length <= STDERR_LINES);
        assert.ok(tail.every((l) => l.trim() !== "" && l.length <= 401 && !/^\s+at /.test(l)));
      }),
    );
  });
});

describe("masking a secret cluster config", () => {
  it("inline kubeconfig contents: every value, and each server's host and host:port", () => {
    const strings = secretClusterStrings(JSON.stringify({ context: CONTEXT, kubeconfig: INLINE }));
    for (const s of [CONTEXT, SERVER, "10.9.8.7:6443", "10.9.8.7", "c-secret-77", "tok-secret-31d0"]) assert.ok(strings.includes(s), s);
    assert.ok(!strings.includes("v1") && !strings.includes("Config"));
    assert.deepEqual(secretClusterStrings(JSON.stringify({ kubeconfig: "~/.kube/secret-path" })), ["~/.kube/secret-path"]);
  });

  it("masks whole words: a secret never shows, other words stay", () => {
    const secretWord = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,20}$/);
    const otherWord = fc.stringMatching(/^[A-Za-z0-9]{1,12}$/);
    fc.assert(
      fc.property(secretWord, fc.array(fc.oneof(fc.constant(null), otherWord), { minLength: 1, maxLength: 20 }), (secret, words) => {
        const tokens = words.map((w) => w ?? secret);
        const masked = maskSecrets(tokens.map((t) => `"${t}",`).join(" "), [secret]);
        const seen = masked.split(" ").map((t) => t.slice(1, -2));
        assert.deepEqual(
          seen,
          tokens.map((t) => (t === secret ? "[secret]" : t)),
        );
      }),
    );
    assert.equal(maskSecrets("cilium on ci, ci-2", ["ci"]), "cilium on [secret], [secret]-2");
    assert.equal(maskSecrets("dial tcp 10.9.8.7:6443 and 10.9.8.70", ["10.9.8.7:6443", "10.9.8.7"]), "dial tcp [secret] and 10.9.8.70");
  });

  it("only a stack file with a secret cluster config is decrypted, and only its cluster values are masked", async () => {
    const refuse = async (): Promise<never> => {
      throw new Error("the engine must not be asked");
    };
    assert.deepEqual(await secretsToMask(projectWithStack("s", { cluster: { context: CONTEXT } }), "s", refuse), []);
    assert.deepEqual(await secretsToMask(mkdtempSync(join(tmpdir(), "no-stack-")), "s", refuse), []);
    assert.deepEqual(await secretsToMask(projectWithStack("s", { cilium: { namespace: fakeSecure("ns") } }), "s", fakeEngine), []);
    assert.deepEqual(await secretsToMask(projectWithStack("s", { cluster: { context: fakeSecure(CONTEXT) } }), "s", fakeEngine), [CONTEXT]);
  });

  it("the failure as printed, in text and JSON, masked", () => {
    const e = new VerifierFailure(`the verifier could not verify encryption: context ${CONTEXT} refused`, [`verifier: ${CONTEXT} refused`]);
    const text = failureOutput("s", e, [CONTEXT], false);
    assert.equal(
      text,
      "stack s: drift check failed: the verifier could not verify encryption: context [secret] refused\nthe verifier's last lines on stderr:\n  verifier: [secret] refused",
    );
    assert.deepEqual(JSON.parse(failureOutput("s", e, [CONTEXT], true)), {
      stack: "s",
      error: "stack s: drift check failed: the verifier could not verify encryption: context [secret] refused",
      verifierStderr: ["verifier: [secret] refused"],
      exitCode: 1,
    });
    assert.deepEqual(JSON.parse(failureOutput("s", new Error("no such stack"), [], true)), {
      stack: "s",
      error: "stack s: drift check failed: no such stack",
      exitCode: 1,
    });
  });
});

describe("drift's verifier on a stack whose cluster config is secret", () => {
  const dir = mkdtempSync(join(tmpdir(), "drift-verifier-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  // The verifier reads the stack from its working directory; its code and packages are the project's.
  symlinkSync(join(PROJECT_DIR, "verifier"), join(dir, "verifier"));
  symlinkSync(join(PROJECT_DIR, "node_modules"), join(dir, "node_modules"));
  const bin = join(dir, "bin");
  mkdirSync(bin);
  writeFileSync(
    join(dir, "Pulumi.s.yaml"),
    "config:\n  cilium-encryption:encryption:\n    type: wireguard\n  cilium-encryption:cluster:\n    context:\n      secure: v1:AAAA\n    kubeconfig:\n      secure: v1:BBBB\n",
  );
  // The Pulumi CLI decrypts the stack's config; kubectl knows the context and cannot reach the server.
  const config = {
    "cilium-encryption:encryption": { value: '{"type":"wireguard"}', secret: false },
    "cilium-encryption:cluster": { value: JSON.stringify({ context: CONTEXT, kubeconfig: INLINE }), secret: true },
    "cilium-encryption:verification": { value: '{"timeout":"1m"}', secret: false },
  };
  writeFileSync(join(bin, "pulumi"), `#!/bin/sh\ncat <<'EOF'\n${JSON.stringify(config)}\nEOF\n`);
  writeFileSync(
    join(bin, "kubectl"),
    `#!/bin/sh
for a in "$@"; do case "$a" in view) printf 'apiVersion: v1\\nkind: Config\\ncontexts:\\n- name: ${CONTEXT}\\n  context: {cluster: c-secret-77}\\n'; exit 0;; esac; done
echo "Unable to connect to the server: dial tcp 10.9.8.7:6443 (context ${CONTEXT}): connect: connection refused" >&2
exit 1
`,
  );
  for (const f of ["pulumi", "kubectl"]) chmodSync(join(bin, f), 0o755);

  it("fails with the verifier's reason and last stderr lines, the context and server masked", async () => {
    const path = process.env.PATH;
    process.env.PATH = `${bin}:${path}`;
    let failure: unknown;
    let secrets: string[];
    try {
      secrets = await secretsToMask(dir, "s");
      failure = await startVerifier({ stack: "s", json: true, verify: true, wireCheck: "off", projectDir: dir }).verdict.then(
        () => assert.fail("the verifier cannot verify an unreachable cluster"),
        (e: unknown) => e,
      );
    } finally {
      process.env.PATH = path;
    }
    assert.ok(failure instanceof VerifierFailure, String(failure));
    assert.match(failure.message, /^the verifier could not verify encryption: .*connection refused$/);
    assert.ok(
      failure.stderr.some((l) => /COULD NOT VERIFY/.test(l)),
      failure.stderr.join("\n"),
    );
    const json = JSON.parse(failureOutput("s", failure, secrets, true));
    assert.match(json.error, /Unable to connect to the server: dial tcp \[secret\] \(context \[secret\]\): connect: connection refused/);
    assert.ok(json.verifierStderr.length > 0);
    const text = failureOutput("s", failure, secrets, false);
    assert.match(text, /the verifier's last lines on stderr:\n {2}verifier: cannot read DaemonSet [^\n]*\[secret\]/);
    for (const out of [JSON.stringify(json), text]) for (const s of [CONTEXT, "10.9.8.7"]) assert.ok(!out.includes(s), `${s} in ${out}`);
  });
});
