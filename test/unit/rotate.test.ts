import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseSettings } from "../../config/settings";
import { readStackConfig } from "../../config/stackFile";
import { rotate } from "../../scripts/rotate";

const PROJECT_DIR = join(__dirname, "../..");

function copyStack(stack: string): string {
  const dir = mkdtempSync(join(tmpdir(), "rotate-"));
  copyFileSync(join(PROJECT_DIR, `Pulumi.${stack}.yaml`), join(dir, `Pulumi.${stack}.yaml`));
  return dir;
}

describe("rotate command", () => {
  it("bumps keyId in the stack file and says what the next up does", () => {
    const dir = copyStack("dev");
    const before = parseSettings(readStackConfig(dir, "dev")).encryption;
    assert.equal(before.type, "ipsec");
    const message = rotate(dir, "dev");
    const after = parseSettings(readStackConfig(dir, "dev")).encryption;
    assert.equal(after.type === "ipsec" && after.keyId, before.type === "ipsec" && before.keyId + 1);
    assert.match(message, /keyId 1 → 2/);
    assert.match(message, /new 20-byte PSK \(aes-128-gcm\)/);
    assert.match(message, /update kube-system\/cilium-ipsec-keys in place with key id 2/);
  });

  it("wraps 15 to 1 and keeps comments", () => {
    const dir = copyStack("dev");
    const file = join(dir, "Pulumi.dev.yaml");
    writeFileSync(file, `# ours\n${readFileSync(file, "utf8").replace(/keyId: \d+/, "keyId: 15 # rotated monthly")}`);
    rotate(dir, "dev");
    const text = readFileSync(file, "utf8");
    assert.match(text, /keyId: 1 # rotated monthly/);
    assert.match(text, /^# ours/);
  });

  it("refuses a WireGuard stack and leaves it untouched", () => {
    const dir = copyStack("prod");
    const file = join(dir, "Pulumi.prod.yaml");
    const before = readFileSync(file, "utf8");
    assert.throws(() => rotate(dir, "prod"), /uses wireguard; only IPsec has a shared key to rotate/);
    assert.equal(readFileSync(file, "utf8"), before);
  });

  it("names an unknown stack", () => {
    assert.throws(() => rotate(PROJECT_DIR, "nope"), /no stack file .*Pulumi\.nope\.yaml/);
  });
});
