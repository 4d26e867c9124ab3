import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseSettings } from "../../config/settings";
import { parseVerifierArgs } from "../../verifier/args";
import { expandStackFlag, invocationFromSettings, verifierFlags } from "../../verifier/invocation";
import { fakeEngine, fakeSecure, projectWithStack } from "./fakeEngine";

const PROJECT_DIR = join(__dirname, "../..");

describe("verify --stack", () => {
  it("derives the same checks the stack's verification Command runs", async () => {
    const args = parseVerifierArgs(await expandStackFlag(["--stack", "prod"], PROJECT_DIR));
    assert.equal(args.mode, "wireguard");
    assert.equal(args.namespace, "kube-system");
    assert.equal(args.ciliumVersion.text, "1.20.2");
    assert.equal(args.timeoutSeconds, 900);
    assert.equal(args.nodeEncryption, true);
    assert.equal(args.strictMode, false);
    assert.equal(args.wireCheck, true);
    assert.equal(args.keyId, null);
  });

  it("an IPsec stack asks every node for its key id, so a rotation is verified only once the agents use the new key", async () => {
    const args = parseVerifierArgs(await expandStackFlag(["--stack", "dev"], PROJECT_DIR));
    assert.deepEqual([args.mode, args.keyId, args.strictMode], ["ipsec", 1, false]);
    assert.equal(parseVerifierArgs(await expandStackFlag(["--stack", "dev", "--key-id", "2"], PROJECT_DIR)).keyId, 2);
  });

  it("lets flags next to it override the stack's", async () => {
    const args = parseVerifierArgs(await expandStackFlag(["--stack", "dev", "--wire-check", "off", "--timeout", "30"], PROJECT_DIR));
    assert.equal(args.mode, "ipsec");
    assert.equal(args.wireCheck, false);
    assert.equal(args.timeoutSeconds, 30);
  });

  it("names a missing stack", async () => {
    await assert.rejects(expandStackFlag(["--stack", "nope"], PROJECT_DIR), /--stack nope: no stack file/);
    await assert.rejects(expandStackFlag(["--stack"], PROJECT_DIR), /--stack needs a stack name/);
  });

  it("a secret cluster config is decrypted by the engine and becomes the verifier's connection", async () => {
    const kubeconfig = join(mkdtempSync(join(tmpdir(), "kubeconfig-")), "config");
    writeFileSync(kubeconfig, "apiVersion: v1\nkind: Config\n");
    const dir = projectWithStack("s", {
      encryption: { type: "ipsec", ipsec: { keyId: 3 } },
      cluster: { kubeconfig: fakeSecure(kubeconfig), context: fakeSecure("ctx-secret-5e1b") },
    });
    const args = parseVerifierArgs(await expandStackFlag(["--stack", "s"], dir, fakeEngine));
    assert.deepEqual([args.kubeconfig, args.context, args.keyId], [kubeconfig, "ctx-secret-5e1b", 3]);
    // The engine's own reason, when it cannot decrypt.
    await assert.rejects(
      expandStackFlag(["--stack", "s"], dir, async () => Promise.reject(new Error("error: incorrect passphrase"))),
      /^ArgsError: --stack s: error: incorrect passphrase$/,
    );
  });

  it("a bad secret value is refused naming the setting, never echoing the value", async () => {
    const dir = projectWithStack("s", { encryption: { type: "wireguard" }, cluster: { context: fakeSecure("-ctx-secret-5e1b") } });
    await assert.rejects(expandStackFlag(["--stack", "s"], dir, fakeEngine), (e: Error) => {
      assert.match(e.message, /^--stack s: invalid stack config:\n {2}- cilium-encryption:cluster\.context/);
      assert.ok(!e.message.includes("ctx-secret-5e1b"), e.message);
      return true;
    });
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

  it("verification.images become the wire check's image flags, each only when set; the verifier takes them as they are", () => {
    const withImages = (images: object | undefined) =>
      verifierFlags(
        invocationFromSettings(
          parseSettings({
            "cilium-encryption:encryption": JSON.stringify({ type: "wireguard" }),
            ...(images === undefined ? {} : { "cilium-encryption:verification": JSON.stringify({ images }) }),
          }),
        ),
      );
    const workload = "registry.example:5000/mirror/busybox:1.36.1@sha256:4059babd1b7f9ad15525d28c5cdc7243eb75b4e4131aca2b4232c66eadce2250";
    const capture = "registry.example:5000/mirror/netshoot:v0.13";
    const both = withImages({ workload, capture });
    assert.deepEqual([flag(both, "--workload-image"), flag(both, "--capture-image")], [workload, capture]);
    const args = parseVerifierArgs(both);
    assert.deepEqual([args.workloadImage, args.captureImage], [workload, capture]);
    const one = withImages({ capture });
    assert.deepEqual([flag(one, "--workload-image"), flag(one, "--capture-image")], [undefined, capture]);
    for (const argv of [withImages(undefined), withImages({})]) {
      assert.ok(!argv.some((a) => a.endsWith("-image")), argv.join(" "));
    }
  });
});
