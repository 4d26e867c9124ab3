import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseVerifierArgs } from "../../verifier/args";
import { expandStackFlag } from "../../verifier/invocation";

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
