/**
 * The verification command as /bin/sh runs it, with a stand-in `node` that records what the verifier
 * would receive: the connection settings arrive intact whatever characters they hold, and never on
 * the command line the state stores.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import fc from "fast-check";
import { verifierCommand } from "../../components/encryptionVerification";
import { FROM_STACK_ENV } from "../../verifier/exit";
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
    // So the verifier's messages name the stack's settings, not its own flags.
    assert.equal(verifierCommand(base, where).environment[FROM_STACK_ENV], "1");
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

// The verifier as a signal sees it: a node process (node takes signals a shell ignored for it) that
// records its kubeconfig, is ready, and on a signal takes a moment to clean up before it exits.
const sig = join(dir, "sig");
mkdirSync(sig);
writeFileSync(
  join(sig, "verifier.js"),
  `const fs = require("node:fs");
const out = ${JSON.stringify(join(sig, "out"))};
fs.writeFileSync(out + ".path", process.env.KUBECONFIG ?? "");
for (const s of ["SIGTERM", "SIGINT", "SIGHUP"]) {
  process.on(s, () => {
    fs.writeFileSync(out + ".signal", s + " " + fs.existsSync(process.env.KUBECONFIG ?? "/nonexistent"));
    setTimeout(() => process.exit(128 + require("node:os").constants.signals[s]), 200);
  });
}
fs.writeFileSync(out + ".started", "");
setTimeout(() => process.exit(0), 30000);
`,
);
writeFileSync(join(sig, "node"), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(join(sig, "verifier.js"))}\n`);
chmodSync(join(sig, "node"), 0o755);
// mktemp that takes its time once the file exists, so a signal can arrive before the verifier starts.
writeFileSync(join(sig, "slow-mktemp"), `#!/bin/sh\nf=$(/usr/bin/mktemp)\nprintf '%s' "$f" > ${JSON.stringify(join(sig, "out.mktemp"))}\nsleep 1\necho "$f"\n`);
chmodSync(join(sig, "slow-mktemp"), 0o755);

async function untilExists(file: string): Promise<void> {
  for (let i = 0; i < 200 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(existsSync(file), `${file} never appeared`);
}

/** Runs the command under dash, as the command provider's `sh -c` does here, and sends SIGNAL once WHEN exists. */
async function signalled(inv: VerifierInvocation, signal: NodeJS.Signals, when: string, path = `${sig}:/usr/bin:/bin`) {
  for (const f of ["out.path", "out.signal", "out.started", "out.mktemp"]) rmSync(join(sig, f), { force: true });
  const { create, environment } = verifierCommand(inv, where);
  const child = spawn("dash", ["-c", create], { env: { PATH: path, ...environment }, cwd: dir, stdio: "ignore" });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  await untilExists(join(sig, when));
  child.kill(signal);
  return { code: await exited, read: (f: string) => (existsSync(join(sig, f)) ? readFileSync(join(sig, f), "utf8") : null) };
}

describe("verification command stopped by a signal, under dash", () => {
  const inline = { ...base, kubeconfig: "apiVersion: v1\nusers:\n- user:\n    token: t0k3n\n" };

  for (const [signal, code] of [
    ["SIGTERM", 143],
    ["SIGINT", 130],
    ["SIGHUP", 129],
  ] as const) {
    it(`${signal}: passed on to the verifier, which still has its kubeconfig while it cleans up; the file is gone after; exit ${code}`, async () => {
      const r = await signalled(inline, signal, "out.started");
      assert.equal(r.read("out.signal"), `${signal} true`);
      const path = r.read("out.path")!;
      assert.match(path, /\/tmp\.\w+$/);
      assert.ok(!existsSync(path), "the temporary kubeconfig is left behind");
      assert.equal(r.code, code);
    });
  }

  it("SIGTERM before the verifier started: the shell ends with 143 as soon as mktemp returns, and removes the file", async () => {
    writeFileSync(join(sig, "mktemp"), readFileSync(join(sig, "slow-mktemp")));
    chmodSync(join(sig, "mktemp"), 0o755);
    try {
      const r = await signalled(inline, "SIGTERM", "out.mktemp");
      assert.equal(r.code, 143);
      assert.equal(r.read("out.started"), null, "the verifier started after the signal");
      assert.ok(!existsSync(r.read("out.mktemp")!), "the temporary kubeconfig is left behind");
    } finally {
      rmSync(join(sig, "mktemp"));
    }
  });

  it("with a kubeconfig path the shell execs the verifier, so the signal reaches it directly", async () => {
    const r = await signalled({ ...base, kubeconfig: "kc" }, "SIGTERM", "out.started");
    assert.equal(r.read("out.signal"), `SIGTERM ${existsSync(join(dir, "kc"))}`);
    assert.equal(r.code, 143);
    assert.match(verifierCommand({ ...base, kubeconfig: "kc" }, where).create, /^exec node --import tsx verifier\/main\.ts /);
  });
});
