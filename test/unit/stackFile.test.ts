/**
 * Reading a stack's config outside a Pulumi run: the file alone when it is all there is, the Pulumi
 * CLI (here a stand-in on PATH) when only the engine can resolve it, and no decrypted value in any
 * error.
 */
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import fc from "fast-check";
import { loadStackConfig, parseEngineConfig, plainStackConfig, pulumiCliConfig, readStackConfig } from "../../config/stackFile";
import { fakeEngine, fakeSecure, projectWithStack } from "./fakeEngine";

const noEngine = async (): Promise<never> => {
  throw new Error("the engine must not be asked");
};

describe("a stack file that is all there is", () => {
  it("is read as the runtime hands it over, without the engine and with no secret key", async () => {
    const dir = projectWithStack("s", { encryption: { type: "wireguard" }, "other:key": 3, "cilium-encryption:plain": "text" });
    const read = await loadStackConfig(dir, "s", noEngine);
    assert.deepEqual(read.config, {
      "cilium-encryption:encryption": '{"type":"wireguard"}',
      "other:key": "3",
      "cilium-encryption:plain": "text",
    });
    assert.equal(read.secretKeys.size, 0);
  });

  it("names a missing stack file and refuses a name that is not a stack name", async () => {
    const dir = mkdtempSync(join(tmpdir(), "stack-config-"));
    await assert.rejects(loadStackConfig(dir, "nope", noEngine), /no stack file .*Pulumi\.nope\.yaml/);
    assert.throws(() => plainStackConfig(dir, "../x"), /"\.\.\/x" is not a stack name/);
  });
});

describe("config only the engine can resolve", () => {
  const cases: Array<{ what: string; config: Record<string, unknown>; extra?: Record<string, unknown>; project?: string; why: RegExp }> = [
    { what: "a secret set with --path", config: { cluster: { context: fakeSecure("ctx-7f3a") } }, why: /holds secret values \(cilium-encryption:cluster\)/ },
    { what: "a whole secret key", config: { cluster: fakeSecure('{"context":"ctx-7f3a"}') }, why: /holds secret values \(cilium-encryption:cluster\)/ },
    { what: "a secret in a list", config: { cilium: { values: { l: [1, fakeSecure("x")] } } }, why: /holds secret values \(cilium-encryption:cilium\)/ },
    { what: "an ESC environment", config: {}, extra: { environment: ["prod-env"] }, why: /imports ESC environments/ },
    { what: "project config", config: {}, project: "name: p\nconfig:\n  cilium-encryption:cluster:\n    value: {}\n", why: /Pulumi\.yaml sets config/ },
  ];
  for (const c of cases) {
    it(`${c.what}: read through the engine, whose secret keys reach the caller`, async () => {
      const dir = projectWithStack("s", c.config, c.extra);
      if (c.project !== undefined) writeFileSync(join(dir, "Pulumi.yaml"), c.project);
      const plain = plainStackConfig(dir, "s");
      assert.ok("engine" in plain);
      assert.match(plain.engine, c.why);
      assert.throws(() => readStackConfig(dir, "s"), /only the Pulumi CLI can read this stack's config/);
      const asked: string[] = [];
      const read = await loadStackConfig(dir, "s", async (d, s) => {
        asked.push(`${d}|${s}`);
        return { config: { "cilium-encryption:cluster": "{}" }, secretKeys: new Set(["cilium-encryption:cluster"]) };
      });
      assert.deepEqual(asked, [`${dir}|s`]);
      assert.deepEqual([...read.secretKeys], ["cilium-encryption:cluster"]);
    });
  }

  it("the file's reason names keys, never a ciphertext", () => {
    const dir = projectWithStack("s", { cluster: { context: fakeSecure("ctx-7f3a") } });
    const plain = plainStackConfig(dir, "s");
    assert.ok("engine" in plain && !plain.engine.includes("ctx-7f3a"), JSON.stringify(plain));
  });

  it("the test stand-in decrypts as the engine does: a --path secret marks its whole key", async () => {
    const dir = projectWithStack("s", { cluster: { context: fakeSecure("ctx-7f3a") }, encryption: { type: "wireguard" } });
    const read = await fakeEngine(dir, "s");
    assert.equal(read.config["cilium-encryption:cluster"], '{"context":"ctx-7f3a"}');
    assert.deepEqual([...read.secretKeys], ["cilium-encryption:cluster"]);
  });
});

describe("the engine's answer", () => {
  it("values and the keys marked secret, as `pulumi config --show-secrets --json` prints them", () => {
    const read = parseEngineConfig(
      JSON.stringify({
        "cilium-encryption:cluster": { value: '{"context":"c"}', objectValue: { context: "c" }, secret: true },
        "cilium-encryption:encryption": { value: '{"type":"ipsec"}', objectValue: { type: "ipsec" }, secret: false },
        "cilium-encryption:note": { value: "x", secret: false },
      }),
    );
    assert.deepEqual(read.config, {
      "cilium-encryption:cluster": '{"context":"c"}',
      "cilium-encryption:encryption": '{"type":"ipsec"}',
      "cilium-encryption:note": "x",
    });
    assert.deepEqual([...read.secretKeys], ["cilium-encryption:cluster"]);
  });

  it("an answer that is not what the CLI prints is refused without echoing any of it", () => {
    fc.assert(
      fc.property(fc.string(), (noise) => {
        const text = `{"cilium-encryption:cluster": {"value": "secret-ctx-91c2"${noise}`;
        try {
          parseEngineConfig(text);
        } catch (e) {
          assert.ok(!(e as Error).message.includes("secret-ctx-91c2"), (e as Error).message);
          return;
        }
      }),
    );
    assert.throws(() => parseEngineConfig('{"k": {"secret": true}}'), /^Error: the Pulumi CLI gave no value for k$/);
    assert.throws(() => parseEngineConfig("[]"), /not a JSON object/);
  });
});

describe("the Pulumi CLI", () => {
  const bin = mkdtempSync(join(tmpdir(), "fake-pulumi-"));
  after(() => rmSync(bin, { recursive: true, force: true }));
  const path = process.env.PATH;
  const withPulumi = async <T>(script: string | null, run: () => Promise<T>): Promise<T> => {
    rmSync(join(bin, "pulumi"), { force: true });
    if (script !== null) {
      writeFileSync(
        join(bin, "pulumi"),
        `#!/bin/sh\nprintf '%s\\n' "$*" > "${bin}/argv"\npwd > "${bin}/cwd"\necho "$PULUMI_SKIP_UPDATE_CHECK" > "${bin}/env"\n${script}\n`,
      );
      chmodSync(join(bin, "pulumi"), 0o755);
    }
    process.env.PATH = script === null ? bin : `${bin}:${path}`;
    try {
      return await run();
    } finally {
      process.env.PATH = path;
    }
  };

  it("runs `pulumi config --show-secrets --json --stack <name>` in the project, no update check, values on a pipe", async () => {
    const dir = projectWithStack("s", {});
    const answer = JSON.stringify({ "cilium-encryption:cluster": { value: '{"context":"c"}', secret: true } });
    const read = await withPulumi(`echo '${answer}'`, () => pulumiCliConfig(dir, "s"));
    assert.deepEqual(read.config, { "cilium-encryption:cluster": '{"context":"c"}' });
    assert.deepEqual([...read.secretKeys], ["cilium-encryption:cluster"]);
    assert.equal(readFileSync(join(bin, "argv"), "utf8").trim(), "config --show-secrets --json --stack s");
    assert.equal(readFileSync(join(bin, "cwd"), "utf8").trim(), dir);
    assert.equal(readFileSync(join(bin, "env"), "utf8").trim(), "true");
  });

  it("a failure gives the engine's error lines, not what it printed on stdout", async () => {
    const dir = projectWithStack("s", {});
    const script = `echo '{"partial":"secret-ctx-91c2"'\necho 'warning: noise' >&2\necho 'error: incorrect passphrase' >&2\nexit 255`;
    await withPulumi(script, () =>
      assert.rejects(
        pulumiCliConfig(dir, "s"),
        (e: Error) => e.message === "stack s: reading its config with the Pulumi CLI: error: incorrect passphrase" && !e.message.includes("secret-ctx"),
      ),
    );
  });

  it("output that is not JSON is refused without echoing it", async () => {
    const dir = projectWithStack("s", {});
    await withPulumi("echo 'secret-ctx-91c2 is not json'", () =>
      assert.rejects(pulumiCliConfig(dir, "s"), /^Error: stack s: reading its config with the Pulumi CLI: the Pulumi CLI printed config that is not JSON$/),
    );
  });

  it("no pulumi on PATH says what to install", async () => {
    const dir = projectWithStack("s", {});
    await withPulumi(null, () =>
      assert.rejects(pulumiCliConfig(dir, "s"), /stack s: reading its config with the Pulumi CLI: pulumi is not on PATH; install the Pulumi CLI/),
    );
  });
});
