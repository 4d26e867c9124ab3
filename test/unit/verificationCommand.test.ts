/**
 * The verification command as /bin/sh runs it, with a stand-in `node` that records what the verifier
 * would receive: the connection settings arrive intact whatever characters they hold, and never on
 * the command line the state stores.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import fc from "fast-check";
import { verifierCommand } from "../../components/encryptionVerification";
import type { VerifierInvocation } from "../../verifier/invocation";

const dir = mkdtempSync(join(tmpdir(), "verify-cmd-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const out = join(dir, "out");
writeFileSync(
  join(dir, "node"),
  `#!/bin/sh
printf '%s\\0' "$@" > "${out}.args"
printf '%s' "$KUBECONFIG" > "${out}.path"
printf '%s' "$CILIUM_ENCRYPTION_CONTEXT" > "${out}.context"
cat "$KUBECONFIG" > "${out}.kubeconfig"
ls -l "$KUBECONFIG" | cut -c1-10 > "${out}.mode"
exit 3
`,
);
chmodSync(join(dir, "node"), 0o755);

const base: VerifierInvocation = { mode: "wireguard", namespace: "kube-system", ciliumVersion: "1.20.2", timeoutSeconds: 600, wireCheck: false };
const where = { home: "/home/u", cwd: dir };

function runCommand(inv: VerifierInvocation) {
  const { create, environment } = verifierCommand(inv, where);
  const res = spawnSync("/bin/sh", ["-c", create], { env: { PATH: `${dir}:/usr/bin:/bin`, ...environment }, cwd: dir });
  const args = readFileSync(`${out}.args`, "utf8").split("\0").slice(0, -1);
  return {
    create,
    status: res.status,
    args,
    context: readFileSync(`${out}.context`, "utf8"),
    path: readFileSync(`${out}.path`, "utf8"),
    kubeconfig: readFileSync(`${out}.kubeconfig`, "utf8"),
    mode: readFileSync(`${out}.mode`, "utf8").trim(),
  };
}

// Environment variables cannot hold NUL; everything else must come through.
const text = fc.string({ unit: "binary", minLength: 1, maxLength: 40 }).filter((s) => !s.includes("\0"));

describe("verification command", () => {
  it("hands any context name to the verifier unchanged, in its environment, never in an argument (property)", () => {
    fc.assert(
      fc.property(text, (context) => {
        const r = runCommand({ ...base, context, kubeconfig: join(dir, "node") });
        assert.equal(r.context, context);
        assert.ok(!r.args.some((a) => a.startsWith("--context")), "the context is an argument: every process listing shows it");
        assert.equal(
          r.create,
          verifierCommand({ ...base, context: "other", kubeconfig: join(dir, "node") }, where).create,
          "the command line depends on the context",
        );
        assert.equal(r.status, 3, "the verifier's exit status is the command's");
      }),
      { numRuns: 40 },
    );
  });

  it("passes a kubeconfig path as KUBECONFIG, resolved against the project", () => {
    writeFileSync(join(dir, "kc"), "apiVersion: v1\n");
    const r = runCommand({ ...base, kubeconfig: "kc" });
    assert.equal(r.path, join(dir, "kc"));
    assert.ok(!r.args.some((a) => a.includes("kubeconfig")), r.args.join(" "));
    assert.equal(verifierCommand({ ...base, kubeconfig: "~/.kube/config" }, where).environment.KUBECONFIG, "/home/u/.kube/config");
  });

  it("writes inline kubeconfig contents to a private file that is gone afterwards (property)", () => {
    fc.assert(
      fc.property(text, (secret) => {
        const contents = `apiVersion: v1\nusers:\n- user:\n    token: ${secret}\n`;
        const r = runCommand({ ...base, kubeconfig: contents });
        assert.equal(r.kubeconfig, contents);
        assert.equal(r.mode, "-rw-------");
        assert.ok(!existsSync(r.path), "the temporary kubeconfig is left behind");
        assert.equal(r.create, verifierCommand({ ...base, kubeconfig: "apiVersion: v1\n" }, where).create, "the command line depends on the contents");
        assert.equal(r.status, 3);
      }),
      { numRuns: 20 },
    );
  });
});
