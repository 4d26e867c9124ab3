import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  buildKeyLine,
  IPSEC_ALGORITHM_NAMES,
  type IpsecAlgorithm,
  type KeyLine,
  KeyLineError,
  nextKeyId,
  parseKeyLine,
  pskBytes,
} from "../../encryption/keyLine";

const keyId = fc.integer({ min: 1, max: 15 });
const algorithm = fc.constantFrom(...IPSEC_ALGORITHM_NAMES);
const hexOf = (bytes: number) => fc.uint8Array({ minLength: bytes, maxLength: bytes }).map((b) => Buffer.from(b).toString("hex"));
const validLine = fc.tuple(keyId, algorithm).chain(([id, alg]) => hexOf(pskBytes(alg)).map((hex) => ({ id, alg, hex })));

describe("key line", () => {
  it("sizes the PSK as AES key + 4-byte salt: 20, 28, 36 bytes (not the often-copied 16)", () => {
    assert.deepEqual(IPSEC_ALGORITHM_NAMES.map(pskBytes), [20, 28, 36]);
  });

  it("builds the documented line for AES-128-GCM", () => {
    const hex = "00112233445566778899aabbccddeeff01020304";
    assert.equal(buildKeyLine(3, "aes-128-gcm", hex), `3+ rfc4106(gcm(aes)) ${hex} 128`);
  });

  it("round-trips every id, algorithm and key (property)", () => {
    fc.assert(
      fc.property(validLine, ({ id, alg, hex }) => {
        const line = buildKeyLine(id, alg, hex);
        assert.match(line, /^(?:[1-9]|1[0-5])\+ rfc4106\(gcm\(aes\)\) [0-9a-f]+ 128$/);
        assert.deepEqual(parseKeyLine(line), { keyId: id, algorithm: alg, hex, icvBits: 128 });
      }),
    );
  });

  it("rejects key material of any other length, and never echoes it (property)", () => {
    // From 4 bytes on, the hex cannot coincide with digits the message itself contains.
    const badLength = fc.integer({ min: 4, max: 64 }).filter((n) => ![20, 28, 36].includes(n));
    fc.assert(
      fc.property(keyId, algorithm, badLength.chain(hexOf), (id, alg, hex) => {
        assert.throws(
          () => buildKeyLine(id, alg, hex),
          (e: unknown) => e instanceof KeyLineError && !e.message.includes(hex),
        );
      }),
    );
  });

  it("no error quotes 8 or more hex digits of key material, wherever a bad line puts it (property)", () => {
    const material = fc.uint8Array({ minLength: 4, maxLength: 48 }).map((b) => Buffer.from(b).toString("hex"));
    const other = fc.constantFrom("3+", "3", "15+", "+", "rfc4106(gcm(aes))", "rfc4543(gcm(aes))", "cbc(aes)", "128", "256", "");
    fc.assert(
      fc.property(
        material,
        fc.option(material),
        fc.array(other, { maxLength: 4 }),
        fc.nat(),
        fc.constantFrom(" ", "  ", "\t", "\n"),
        fc.boolean(),
        (key, second, rest, at, sep, upper) => {
          const fields: string[] = [...rest];
          fields.splice(at % (fields.length + 1), 0, upper ? key.toUpperCase() : key);
          if (second !== null) fields.splice((at >> 3) % (fields.length + 1), 0, second);
          let message: string;
          try {
            parseKeyLine(fields.join(sep));
            return;
          } catch (e) {
            assert.ok(e instanceof KeyLineError);
            message = e.message.toLowerCase();
          }
          for (const secret of [key, second ?? ""]) {
            for (let i = 0; i + 8 <= secret.length; i++) assert.ok(!message.includes(secret.slice(i, i + 8)), `quotes key material: ${message}`);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it("rejects a key whose length belongs to another algorithm", () => {
    assert.throws(() => buildKeyLine(1, "aes-256-gcm", "ab".repeat(20)), /20 bytes, aes-256-gcm needs 36/);
  });

  it("rejects ids outside 1..15", () => {
    for (const id of [0, 16, -1, 1.5, Number.NaN]) assert.throws(() => buildKeyLine(id, "aes-128-gcm", "ab".repeat(20)), KeyLineError);
  });

  const hex = "ab".repeat(20);
  const bad: Array<[string, string, RegExp]> = [
    ["16-byte key", `3+ rfc4106(gcm(aes)) ${"ab".repeat(16)} 128`, /16 bytes; allowed: 20 \(aes-128-gcm\)/],
    ["ICV written as key size 256", `3+ rfc4106(gcm(aes)) ${hex} 256`, /ICV length in bits and must be 128/],
    ["authentication-only rfc4543", `3+ rfc4543(gcm(aes)) ${hex} 128`, /only rfc4106\(gcm\(aes\)\)/],
    ["no + (insecure global key on 1.16)", `3 rfc4106(gcm(aes)) ${hex} 128`, /followed by "\+"/],
    ["id 0", `0+ rfc4106(gcm(aes)) ${hex} 128`, /1\.\.15/],
    ["id 16", `16+ rfc4106(gcm(aes)) ${hex} 128`, /1 to 15/],
    ["signed id", `+3 rfc4106(gcm(aes)) ${hex} 128`, /1\.\.15/],
    ["leading space (crashes agents)", ` 3+ rfc4106(gcm(aes)) ${hex} 128`, /whitespace/],
    ["trailing newline", `3+ rfc4106(gcm(aes)) ${hex} 128\n`, /single line/],
    ["double space (empty key accepted by Cilium)", `3+ rfc4106(gcm(aes))  128`, /single spaces/],
    ["uppercase hex", `3+ rfc4106(gcm(aes)) ${hex.toUpperCase()} 128`, /lowercase hex/],
    ["0x prefix", `3+ rfc4106(gcm(aes)) 0x${hex} 128`, /lowercase hex/],
    ["cbc/hmac form", `3+ hmac(sha256) ${hex} cbc(aes) ${hex}`, /4 fields/],
  ];
  for (const [name, line, message] of bad) {
    it(`rejects: ${name}`, () => assert.throws(() => parseKeyLine(line), message));
  }

  it("any single-character corruption of a valid line is rejected or still a valid line (property)", () => {
    fc.assert(
      fc.property(validLine, fc.nat(), fc.string({ minLength: 1, maxLength: 1 }), ({ id, alg, hex }, at, ch) => {
        const line = buildKeyLine(id, alg, hex);
        const i = at % line.length;
        const mutated = line.slice(0, i) + ch + line.slice(i + 1);
        let parsed: KeyLine;
        try {
          parsed = parseKeyLine(mutated);
        } catch (e) {
          assert.ok(e instanceof KeyLineError);
          return;
        }
        assert.equal(buildKeyLine(parsed.keyId, parsed.algorithm as IpsecAlgorithm, parsed.hex), mutated);
      }),
    );
  });
});

describe("key id rotation", () => {
  it("increments and wraps 15 → 1, visiting all 15 ids (property)", () => {
    fc.assert(
      fc.property(keyId, (id) => {
        const next = nextKeyId(id);
        assert.equal(next, id === 15 ? 1 : id + 1);
        const seen = new Set<number>();
        let k = id;
        for (let i = 0; i < 15; i++) {
          k = nextKeyId(k);
          seen.add(k);
        }
        assert.equal(seen.size, 15);
      }),
    );
  });
});
