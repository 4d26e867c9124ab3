import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { judgeKeyLine } from "../../adopt/keyJudge";
import { type CiliumVersion, parseCiliumVersion } from "../../encryption/ciliumVersion";
import { buildKeyLine, IPSEC_ALGORITHM_NAMES, pskBytes } from "../../encryption/keyLine";

const v = (text: string) => parseCiliumVersion(text) as CiliumVersion;
const anyVersion = fc.constantFrom(...["1.16.19", "1.17.16", "1.18.11", "1.19.7", "1.20.2"].map(v));
const keyId = fc.integer({ min: 1, max: 15 });
const hexOf = (bytes: number) => fc.uint8Array({ minLength: bytes, maxLength: bytes }).map((b) => Buffer.from(b).toString("hex"));

describe("judging a key line found in the cluster", () => {
  it("keeps every line the program itself would write, with its id and algorithm (property)", () => {
    fc.assert(
      fc.property(anyVersion, keyId, fc.constantFrom(...IPSEC_ALGORITHM_NAMES), fc.integer({ min: 0, max: 2 ** 31 }), (version, id, algorithm, seed) => {
        const hex = Buffer.alloc(pskBytes(algorithm), seed % 256).toString("hex");
        assert.deepEqual(judgeKeyLine(buildKeyLine(id, algorithm, hex), version), { kind: "keep", keyId: id, algorithm });
      }),
    );
  });

  it("refuses the often-copied 16-byte GCM key, explaining the salt, and lets the next id replace it", () => {
    fc.assert(
      fc.property(anyVersion, keyId, hexOf(16), (version, id, hex) => {
        const j = judgeKeyLine(`${id}+ rfc4106(gcm(aes)) ${hex} 128`, version);
        assert.equal(j.kind, "refuse");
        if (j.kind !== "refuse") return;
        assert.equal(j.keyId, id);
        assert.equal(j.rotatable, true, "ICV 128 keeps Cilium's compared key length, so a generated key can follow");
        assert.match(j.reason, /16 bytes.*salt.*20 bytes/);
        assert.ok(!j.reason.includes(hex), "key material in the message");
      }),
    );
  });

  it('a line without "+" is refused on 1.16 (one global key) and kept from 1.17 (per-tunnel keys implied)', () => {
    const line = `3 rfc4106(gcm(aes)) ${"ab".repeat(20)} 128`;
    const old = judgeKeyLine(line, v("1.16.19"));
    assert.equal(old.kind, "refuse");
    if (old.kind === "refuse") {
      assert.match(old.reason, /no "\+".*global key/);
      assert.deepEqual([old.keyId, old.rotatable], [3, true]);
    }
    for (const version of ["1.17.16", "1.18.11", "1.19.7", "1.20.2"]) {
      assert.deepEqual(judgeKeyLine(line, v(version)), { kind: "keep", keyId: 3, algorithm: "aes-128-gcm" }, version);
    }
  });

  it("refuses lines the program cannot parse, naming the rule and never the key", () => {
    const hex = "cd".repeat(20);
    const cases: Array<[string, RegExp]> = [
      [`3+ rfc4106(gcm(aes)) ${hex} 128\n`, /single line/],
      [` 3+ rfc4106(gcm(aes)) ${hex} 128`, /whitespace/],
      [`3+ rfc4106(gcm(aes))  ${hex} 128`, /single spaces/],
      [`3+ rfc4543(gcm(aes)) ${hex} 128`, /not allowed/],
      [`3+ rfc4106(gcm(aes)) ${hex.toUpperCase()} 128`, /lowercase hex/],
      [`3+ rfc4106(gcm(aes)) ${hex} 96`, /ICV/],
      [`3+ hmac(sha256) ${hex} cbc(aes) ${hex}`, /4 fields/],
    ];
    for (const [line, rule] of cases) {
      const j = judgeKeyLine(line, v("1.20.2"));
      assert.equal(j.kind, "refuse", JSON.stringify(line.slice(0, 30)));
      if (j.kind !== "refuse") continue;
      assert.match(j.reason, rule);
      assert.ok(!j.reason.includes(hex) && !j.reason.toLowerCase().includes(hex), "key material in the message");
      assert.equal(j.keyId, 3);
    }
  });

  it("knows when Cilium would refuse a generated key as the next one (the compared key length changes)", () => {
    const hex = "ef".repeat(20);
    // cilium v1.20.2 pkg/datapath/linux/ipsec/ipsec_linux.go: AEAD keys compare ICV/8, others the auth key's hex length.
    const at = (line: string) => judgeKeyLine(line, v("1.20.2"));
    assert.equal((at(`3+ rfc4106(gcm(aes)) ${hex} 96`) as { rotatable: boolean }).rotatable, false);
    assert.equal((at(`3+ hmac(sha256) ${"0".repeat(64)} cbc(aes) ${"1".repeat(32)}`) as { rotatable: boolean }).rotatable, false);
    assert.equal((at(`3+ hmac(sha256) ${"0".repeat(16)} cbc(aes) ${"1".repeat(32)}`) as { rotatable: boolean }).rotatable, true);
  });

  it("without a key id Cilium reads there is nothing to rotate from", () => {
    for (const line of ["garbage", `0+ rfc4106(gcm(aes)) ${"ab".repeat(20)} 128`, `16+ rfc4106(gcm(aes)) ${"ab".repeat(20)} 128`]) {
      const j = judgeKeyLine(line, v("1.20.2"));
      assert.equal(j.kind, "refuse");
      if (j.kind === "refuse") assert.deepEqual([j.keyId, j.rotatable], [undefined, false], line);
    }
  });
});
