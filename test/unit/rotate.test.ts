import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseSettings } from "../../config/settings";
import { readStackConfig } from "../../config/stackFile";
import { rotate } from "../../scripts/rotate";
import { fakeEngine, fakeSecure, projectWithStack } from "./fakeEngine";

const PROJECT_DIR = join(__dirname, "../..");

function copyStack(stack: string): string {
  const dir = mkdtempSync(join(tmpdir(), "rotate-"));
  copyFileSync(join(PROJECT_DIR, `Pulumi.${stack}.yaml`), join(dir, `Pulumi.${stack}.yaml`));
  return dir;
}

describe("rotate command", () => {
  it("bumps keyId in the stack file and says what the next up does", async () => {
    const dir = copyStack("dev");
    const before = parseSettings(readStackConfig(dir, "dev")).encryption;
    assert.equal(before.type, "ipsec");
    const message = await rotate(dir, "dev");
    const after = parseSettings(readStackConfig(dir, "dev")).encryption;
    assert.equal(after.type === "ipsec" && after.keyId, before.type === "ipsec" && before.keyId + 1);
    assert.match(message, /keyId 1 → 2/);
    assert.match(message, /new 20-byte PSK \(aes-128-gcm\)/);
    assert.match(message, /update kube-system\/cilium-ipsec-keys in place with key id 2/);
  });

  it("wraps 15 to 1 and keeps comments", async () => {
    const dir = copyStack("dev");
    const file = join(dir, "Pulumi.dev.yaml");
    writeFileSync(file, `# ours\n${readFileSync(file, "utf8").replace(/keyId: \d+/, "keyId: 15 # rotated monthly")}`);
    await rotate(dir, "dev");
    const text = readFileSync(file, "utf8");
    assert.match(text, /keyId: 1 # rotated monthly/);
    assert.match(text, /^# ours/);
  });

  it("refuses a WireGuard stack and leaves it untouched", async () => {
    const dir = copyStack("prod");
    const file = join(dir, "Pulumi.prod.yaml");
    const before = readFileSync(file, "utf8");
    await assert.rejects(rotate(dir, "prod"), /uses wireguard; only IPsec has a shared key to rotate/);
    assert.equal(readFileSync(file, "utf8"), before);
  });

  it("names an unknown stack", async () => {
    await assert.rejects(rotate(PROJECT_DIR, "nope"), /no stack file .*Pulumi\.nope\.yaml/);
  });
});

describe("rotate on a stack with secret config", () => {
  const ipsec = { type: "ipsec", ipsec: { keyId: 4, algorithm: "aes-256-gcm", keyRotationDuration: "7m" } };

  it("a secret cluster: read through the engine, the key id bumped in place, the secret's ciphertext kept", async () => {
    const dir = projectWithStack("s", { encryption: ipsec, cluster: { context: fakeSecure("ctx-secret-5e1b") } });
    const message = await rotate(dir, "s", fakeEngine);
    assert.match(message, /s: encryption\.ipsec\.keyId 4 → 5 in /);
    assert.match(message, /new 36-byte PSK \(aes-256-gcm\)/);
    const text = readFileSync(join(dir, "Pulumi.s.yaml"), "utf8");
    assert.match(text, /keyId: 5/);
    assert.match(text, /secure: fake:ctx-secret-5e1b/);
    assert.ok(!message.includes("ctx-secret"), message);
  });

  it("a secret elsewhere in encryption or cilium: named, not shown", async () => {
    const dir = projectWithStack("s", {
      encryption: { ...ipsec, ipsec: { ...ipsec.ipsec, keyRotationDuration: fakeSecure("7m") } },
      cilium: { namespace: fakeSecure("ns-secret-2c4d") },
    });
    const message = await rotate(dir, "s", fakeEngine);
    assert.match(message, /keyId 4 → 5/);
    assert.match(message, /generate a new PSK,/);
    assert.match(message, /update cilium-ipsec-keys in cilium\.namespace in place with key id 5/);
    assert.match(message, /keep the old one for encryption\.ipsec\.keyRotationDuration\)/);
    assert.ok(!/ns-secret|aes-256|36-byte|7m/.test(message.replace(dir, "<dir>")), message);
  });

  it("encryption as one secret: refused with the command to run, the file untouched, the id not shown", async () => {
    const dir = projectWithStack("s", { encryption: fakeSecure(JSON.stringify(ipsec)) });
    const file = join(dir, "Pulumi.s.yaml");
    const before = readFileSync(file, "utf8");
    await assert.rejects(
      rotate(dir, "s", fakeEngine),
      (e: Error) =>
        e.message ===
        "cilium-encryption:encryption is one secret value in the stack file, so rotate cannot edit encryption.ipsec.keyId inside it; set it with `pulumi config set --secret --path encryption.ipsec.keyId <id>` (the next id; 15 wraps to 1)",
    );
    assert.equal(readFileSync(file, "utf8"), before);
  });

  it("a key id secret on its own is a string once decrypted: refused as the program refuses it, not shown", async () => {
    const dir = projectWithStack("s", { encryption: { ...ipsec, ipsec: { ...ipsec.ipsec, keyId: fakeSecure("4") } } });
    const file = join(dir, "Pulumi.s.yaml");
    const before = readFileSync(file, "utf8");
    await assert.rejects(
      rotate(dir, "s", fakeEngine),
      /cilium-encryption:encryption\.ipsec\.keyId: must be an integer from 1 to 15 .*got a value marked secret \(not shown\)/,
    );
    assert.equal(readFileSync(file, "utf8"), before);
  });

  it("a key id the stack file does not hold (project config, ESC): refused, the file untouched", async () => {
    const dir = projectWithStack("s", { "other:x": 1 });
    writeFileSync(
      join(dir, "Pulumi.yaml"),
      `name: cilium-encryption\nruntime: nodejs\nconfig:\n  cilium-encryption:encryption:\n    value: ${JSON.stringify(ipsec)}\n`,
    );
    const file = join(dir, "Pulumi.s.yaml");
    const before = readFileSync(file, "utf8");
    const engine = async () => ({ config: { "cilium-encryption:encryption": JSON.stringify(ipsec) }, secretKeys: new Set<string>() });
    await assert.rejects(
      rotate(dir, "s", engine),
      /^Error: cilium-encryption:encryption\.ipsec\.keyId is not a number in the stack file \(set in the project file or an ESC environment\?\); rotate edits the stack file only: set it there$/,
    );
    assert.equal(readFileSync(file, "utf8"), before);
  });

  it("an engine that cannot decrypt stops rotate with its reason, the file untouched", async () => {
    const dir = projectWithStack("s", { encryption: ipsec, cluster: { context: fakeSecure("c") } });
    const file = join(dir, "Pulumi.s.yaml");
    const before = readFileSync(file, "utf8");
    await assert.rejects(
      rotate(dir, "s", async () => Promise.reject(new Error("stack s: reading its config with the Pulumi CLI: error: incorrect passphrase"))),
      /incorrect passphrase/,
    );
    assert.equal(readFileSync(file, "utf8"), before);
  });
});
