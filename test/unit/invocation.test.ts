import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseSettings } from "../../config/settings";
import { parseVerifierArgs } from "../../verifier/args";
import { expandStackFlag, invocationFromSettings, verifierFlags } from "../../verifier/invocation";

const PROJECT_DIR = join(__dirname, "../..");

describe("verify --stack", () => {
  it("derives the same checks the stack's verification Command runs", () => {
    const args = parseVerifierArgs(expandStackFlag(["--stack", "prod"], PROJECT_DIR));
    assert.equal(args.mode, "wireguard");
    assert.equal(args.namespace, "kube-system");
    assert.equal(args.ciliumVersion.text, "1.20.2");
    assert.equal(args.timeoutSeconds, 900);
    assert.equal(args.nodeEncryption, true);
    assert.equal(args.strictMode, false);
    assert.equal(args.wireCheck, true);
    assert.equal(args.keyId, null);
  });

  it("an IPsec stack asks every node for its key id, so a rotation is verified only once the agents use the new key", () => {
    const args = parseVerifierArgs(expandStackFlag(["--stack", "dev"], PROJECT_DIR));
    assert.deepEqual([args.mode, args.keyId, args.strictMode], ["ipsec", 1, false]);
    assert.equal(parseVerifierArgs(expandStackFlag(["--stack", "dev", "--key-id", "2"], PROJECT_DIR)).keyId, 2);
  });

  it("lets flags next to it override the stack's", () => {
    const args = parseVerifierArgs(expandStackFlag(["--stack", "dev", "--wire-check", "off", "--timeout", "30"], PROJECT_DIR));
    assert.equal(args.mode, "ipsec");
    assert.equal(args.wireCheck, false);
    assert.equal(args.timeoutSeconds, 30);
  });

  it("names a missing stack", () => {
    assert.throws(() => expandStackFlag(["--stack", "nope"], PROJECT_DIR), /--stack nope: no stack file/);
    assert.throws(() => expandStackFlag(["--stack"], PROJECT_DIR), /--stack needs a stack name/);
  });
});

describe("verifier flags from the settings", () => {
  const ipsec = (version: string, ipsecConfig: object) =>
    verifierFlags(
      invocationFromSettings(
        parseSettings({
          "cilium-encryption:encryption": JSON.stringify({ type: "ipsec", ipsec: ipsecConfig }),
          "cilium-encryption:cilium": JSON.stringify({ version }),
        }),
      ),
    );
  const flag = (argv: string[], name: string) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);

  it("IPsec: the key id always; egress strict mode from 1.19, where IPsec has it (checked in cilium-config, as for WireGuard)", () => {
    const on = ipsec("1.19.7", { keyId: 4, strictMode: { enabled: true, cidr: "10.0.0.0/8" } });
    assert.deepEqual([flag(on, "--key-id"), flag(on, "--strict-mode")], ["4", "true"]);
    assert.equal(flag(ipsec("1.20.2", { keyId: 15 }), "--strict-mode"), "false");
    const old = ipsec("1.18.11", { keyId: 7 });
    assert.deepEqual([flag(old, "--key-id"), flag(old, "--strict-mode")], ["7", undefined]);
  });
});
