import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import fc from "fast-check";
import { kernelAccepts, loadKeys, parseKeyFile, scanLines } from "./keyfile";
import { MINORS, type Minor } from "./versions";

const hex = (n: number): string => randomBytes(n).toString("hex");
const good = (id: number, bytes = 20): string => `${id}+ rfc4106(gcm(aes)) ${hex(bytes)} 128`;
const load = (m: Minor, content: string, current?: Parameters<typeof loadKeys>[2]) => loadKeys(m, parseKeyFile(m, content), current);

test("the line the product writes loads on every minor, with per-node keys and a key the kernel takes", () => {
  for (const m of MINORS) {
    const r = load(m, good(3));
    assert.ok(r.ok, m);
    assert.equal(r.key?.spi, 3);
    assert.equal(r.key?.perNodeKeys, true);
    assert.equal(r.key?.algorithm, "rfc4106(gcm(aes))");
    assert.equal(r.key?.keyBytes, 20);
    assert.deepEqual(r.key?.kernel, { ok: true });
  }
});

test("1.16 splits on single spaces: a leading space panics, a double space misreads the line", () => {
  const lead = load("1.16", ` ${good(3)}`);
  assert.ok(!lead.ok && lead.panic, "leading space: parseSPI indexes an empty field");
  const dbl = load("1.16", `3+ rfc4106(gcm(aes))  ${hex(20)} 128`);
  assert.ok(!dbl.ok);
  for (const m of ["1.17", "1.18", "1.19", "1.20"] as const) {
    assert.ok(load(m, ` ${good(3)}`).ok, m);
    assert.ok(load(m, `3+ rfc4106(gcm(aes))  ${hex(20)} 128`).ok, m);
  }
});

test('1.16 without "+" uses one global key; later minors always derive per-node keys', () => {
  const line = `3 rfc4106(gcm(aes)) ${hex(20)} 128`;
  const r16 = load("1.16", line);
  assert.ok(r16.ok && r16.key?.perNodeKeys === false);
  const r17 = load("1.17", line);
  assert.ok(r17.ok && r17.key?.perNodeKeys === true);
});

test("key ids outside 1..15 and bad ICVs are refused", () => {
  for (const m of MINORS) {
    for (const id of ["0", "16"]) {
      const r = load(m, `${id}+ rfc4106(gcm(aes)) ${hex(20)} 128`);
      assert.ok(!r.ok && r.error.startsWith("failed to parse SPI"), `${m} ${id}`);
    }
    const icv = load(m, `3+ rfc4106(gcm(aes)) ${hex(20)} 64`);
    assert.ok(!icv.ok && icv.error === "only ICV lengths 96, 128, and 256 are accepted", m);
  }
});

test("a three-field line crashes the agent (Go index out of range)", () => {
  for (const m of ["1.17", "1.20"] as const) {
    const r = load(m, `3+ rfc4106(gcm(aes)) ${hex(20)}`);
    assert.ok(!r.ok && r.panic && r.error.includes("index out of range [3] with length 3"), m);
  }
});

test("rotation checks: the same id is refused from 1.17, a key length change always", () => {
  const first = load("1.18", good(3));
  assert.ok(first.ok);
  const same = load("1.18", good(3), first.key);
  assert.ok(!same.ok && same.error.includes("requires incrementing the key id"));
  const next = load("1.18", good(4), first.key);
  assert.ok(next.ok && next.key?.spi === 4);
  assert.deepEqual(next.ok && next.replaced, [3]);
  const first16 = load("1.16", good(3));
  assert.ok(first16.ok && load("1.16", good(3), first16.key).ok, "1.16 reloads under the same id");
  const auth = load("1.18", `3+ hmac(sha256) ${hex(32)} cbc(aes) ${hex(16)}`);
  assert.ok(auth.ok);
  const longer = load("1.18", `4+ hmac(sha256) ${hex(64)} cbc(aes) ${hex(16)}`, auth.key);
  assert.ok(!longer.ok && longer.error === "invalid key rotation: key length must not change");
});

test("an empty key file fails only on 1.20", () => {
  for (const m of MINORS) assert.equal(load(m, "").ok, m !== "1.20", m);
});

test("the parser accepts what the kernel refuses: 16-byte GCM keys, rfc4543, unknown names", () => {
  const short = load("1.20", good(3, 16));
  assert.ok(short.ok && short.key?.kernel.ok === false);
  assert.deepEqual(kernelAccepts({ kind: "aead", algorithm: "rfc4106(gcm(aes))", keyBytes: 36, icvBits: 128 }), { ok: true });
  assert.equal(kernelAccepts({ kind: "aead", algorithm: "rfc4106(gcm(aes))", keyBytes: 20, icvBits: 256 }).ok, false);
  assert.equal(kernelAccepts({ kind: "aead", algorithm: "rfc9999(x)", keyBytes: 20, icvBits: 128 }).ok, false);
});

test("scanLines follows bufio.ScanLines", () => {
  assert.deepEqual(scanLines("a\n"), ["a"]);
  assert.deepEqual(scanLines("a\r\nb"), ["a", "b"]);
  assert.deepEqual(scanLines("a\n\n"), ["a", ""]);
  assert.deepEqual(scanLines(""), []);
});

test("no fact or error ever carries key material", () => {
  const keyHex = fc.uint8Array({ minLength: 8, maxLength: 40 }).map((b) => Buffer.from(b).toString("hex"));
  const junk = fc.constantFrom("", "zz", "x", "0x", "g1");
  fc.assert(
    fc.property(fc.constantFrom(...MINORS), keyHex, junk, fc.integer({ min: 0, max: 7 }), (m, key, suffix, shape) => {
      const k = key + suffix;
      const line = [
        `3+ rfc4106(gcm(aes)) ${k} 128`,
        `3+ hmac(sha256) ${k} cbc(aes) ${k}`,
        `3+ rfc4106(gcm(aes)) ${k}`,
        ` 3+ rfc4106(gcm(aes)) ${k} 128`,
        `3+ rfc4106(gcm(aes))  ${k} 1280`,
        `3+ ${k} rfc4106(gcm(aes)) 128`,
        `${k} rfc4106(gcm(aes)) ${k} 128`,
        `${k}+ rfc4106(gcm(aes)) ${k} 128`,
      ][shape]!;
      const parsed = parseKeyFile(m, line);
      const text = JSON.stringify(parsed) + JSON.stringify(loadKeys(m, parsed, undefined));
      assert.ok(!text.includes(key), `${m}: ${text}`);
    }),
  );
});
