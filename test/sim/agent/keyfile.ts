// The agent's reading of the IPsec key file, per minor. Rules follow
// pkg/datapath/linux/ipsec/ipsec_linux.go LoadIPSecKeys / loadIPSecKeys, parseSPI and
// decodeIPSecKey of each version in versions.ts (1.16.19, 1.17.16, 1.18.11, 1.19.7, 1.20.2).
// Only facts leave this module: never the key material itself.
import { createHmac, randomBytes } from "node:crypto";
import { type Minor, RULES, type VersionRules } from "./versions";

/** What one accepted key line means to the agent. */
export interface KeyFacts {
  spi: number;
  /** Per-node-pair keys derived from the PSK (ESN on); false only for a 1.16 line without `+`. */
  perNodeKeys: boolean;
  kind: "aead" | "auth-crypt";
  /** AEAD name, or "auth-algo/enc-algo". */
  algorithm: string;
  /** Bytes of the AEAD key (incl. salt), or of the encryption key. */
  keyBytes: number;
  authKeyBytes?: number;
  icvBits?: number;
  /** Cilium's KeyLen: icvLen/8 for AEAD, the auth key's hex length otherwise; a rotation may not change it. */
  keyLen: number;
  /** Only on 1.16 lines with a trailing IP. */
  ip?: string;
  /** Comparable within this process only (HMAC with a per-process salt); never the key. */
  fingerprint: string;
  /** Whether the kernel accepts XFRM states with this algorithm and key (see kernelAccepts). */
  kernel: { ok: true } | { ok: false; error: string };
}

export type LineResult = { ok: true; key: KeyFacts } | { ok: false; error: string; panic: boolean };

/** A key file cut into lines, each parsed on its own (the rotation checks need the agent's state). */
export interface ParsedKeyFile {
  lines: LineResult[];
}

const SALT = randomBytes(32);
// The agent quotes the undecodable key string (%q) in these errors; the simulator never repeats it.
const REDACTED = '"[redacted]"';
const fingerprint = (material: Buffer): string => createHmac("sha256", SALT).update(material).digest("hex").slice(0, 16);

// A misread line (1.16's single-space split) can put key material where an algorithm name goes;
// only names shaped like kernel crypto templates are kept.
const safeName = (name: string): string => (/^[a-z0-9_-]+\([a-z0-9_(),-]+\)$/.test(name) ? name : "[not an algorithm name]");
// The same for the key id quoted in parseSPI's errors.
const safeId = (id: string): string => (id.length <= 8 ? id : "[redacted]");

// Go's strconv.Atoi: optional sign, decimal digits, int64 range.
function atoi(s: string): number | undefined {
  if (!/^[+-]?\d+$/.test(s)) return undefined;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : undefined;
}

// decodeIPSecKey: `""` means an empty key; a leading 0x is dropped; hex.DecodeString otherwise.
function decodeKey(raw: string): { hexLen: number; bytes: Buffer } | undefined {
  if (raw === '""') return { hexLen: 0, bytes: Buffer.alloc(0) };
  const hex = raw.startsWith("0x") ? raw.slice(2) : raw;
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return undefined;
  return { hexLen: hex.length, bytes: Buffer.from(hex, "hex") };
}

// Go's index-out-of-range panic text, which is what a crashing agent logs.
const panicIndex = (i: number, len: number): LineResult => ({
  ok: false,
  panic: true,
  error: `panic: runtime error: index out of range [${i}] with length ${len}`,
});

const OFFSET = { spi: 0, aeadAlgo: 1, aeadKey: 2, icv: 3, authAlgo: 1, authKey: 2, encAlgo: 3, encKey: 4, ip: 5 } as const;

function parseSpi(rules: VersionRules, field: string): { spi: number; offsetBase: number; plus: boolean } | { error: string; panic: boolean } {
  // parseSPI reads spiStr[len(spiStr)-1] before anything else: an empty field panics.
  if (field.length === 0) return { error: "panic: runtime error: index out of range [-1]", panic: true };
  const plus = field.endsWith("+");
  const digits = plus ? field.slice(0, -1) : field;
  const n = atoi(digits);
  if (n === undefined) {
    if (rules.legacyNoSpi) return { spi: 1, offsetBase: -1, plus };
    return { error: `failed to parse SPI: the first argument of the IPsec secret is not a number. Attempted "${safeId(digits)}"`, panic: false };
  }
  if (n > 15)
    return { error: `failed to parse SPI: encryption key space exhausted. ID must be nonzero and less than 16. Attempted "${safeId(digits)}"`, panic: false };
  if (n === 0) return { error: `failed to parse SPI: zero is not a valid key ID. ID must be nonzero and less than 16. Attempted "${digits}"`, panic: false };
  // uint8(spi): a negative id wraps, as Go's conversion does.
  return { spi: ((n % 256) + 256) % 256, offsetBase: 0, plus };
}

export function parseLine(rules: VersionRules, text: string): LineResult {
  const s =
    rules.keySplit === "single-space"
      ? text.split(" ")
      : text
          .trim()
          .split(/\s+/)
          .filter((f) => f !== "");
  if (s.length < 3) return { ok: false, panic: false, error: "missing IPSec key or invalid format" };
  const spi = parseSpi(rules, s[OFFSET.spi]!);
  if ("error" in spi) return { ok: false, panic: spi.panic, error: spi.error };
  const b = spi.offsetBase;
  const maxOffset = rules.allowsIpField ? OFFSET.ip : OFFSET.encKey;
  const at = (i: number): string | undefined => s[b + i];
  if (s.length > b + maxOffset + 1) return { ok: false, panic: false, error: "invalid format: too many fields in the IPsec secret" };
  const perNodeKeys = rules.perNodeKeysNeedPlus ? spi.plus : true;
  if (s.length === b + OFFSET.icv + 1) {
    const name = at(OFFSET.aeadAlgo)!;
    if (!name.startsWith("rfc")) return { ok: false, panic: false, error: `invalid AEAD algorithm "${safeName(name)}"` };
    const key = decodeKey(at(OFFSET.aeadKey)!);
    if (key === undefined) return { ok: false, panic: false, error: `unable to decode AEAD key string ${REDACTED}` };
    const icv = atoi(at(OFFSET.icv)!);
    if (icv === undefined) return { ok: false, panic: false, error: "ICV length is invalid or missing" };
    if (icv !== 96 && icv !== 128 && icv !== 256) return { ok: false, panic: false, error: "only ICV lengths 96, 128, and 256 are accepted" };
    const facts = { kind: "aead" as const, algorithm: name, keyBytes: key.bytes.length, icvBits: icv };
    const kernel = kernelAccepts(facts);
    return {
      ok: true,
      key: { spi: spi.spi, perNodeKeys, ...facts, algorithm: safeName(name), keyLen: Math.trunc(icv / 8), fingerprint: fingerprint(key.bytes), kernel },
    };
  }
  // "[spi] auth-algo auth-key enc-algo enc-key [IP]": Go indexes the slice and panics past its end.
  for (const i of [OFFSET.authAlgo, OFFSET.authKey]) if (at(i) === undefined) return panicIndex(b + i, s.length);
  const auth = decodeKey(at(OFFSET.authKey)!);
  if (auth === undefined) return { ok: false, panic: false, error: `unable to decode authentication key string ${REDACTED}` };
  for (const i of [OFFSET.encAlgo, OFFSET.encKey]) if (at(i) === undefined) return panicIndex(b + i, s.length);
  const enc = decodeKey(at(OFFSET.encKey)!);
  if (enc === undefined) return { ok: false, panic: false, error: `unable to decode encryption key string ${REDACTED}` };
  const facts = {
    kind: "auth-crypt" as const,
    algorithm: `${at(OFFSET.authAlgo)}/${at(OFFSET.encAlgo)}`,
    keyBytes: enc.bytes.length,
    authKeyBytes: auth.bytes.length,
  };
  const key: KeyFacts = {
    spi: spi.spi,
    perNodeKeys,
    ...facts,
    algorithm: `${safeName(at(OFFSET.authAlgo)!)}/${safeName(at(OFFSET.encAlgo)!)}`,
    keyLen: auth.hexLen,
    fingerprint: fingerprint(Buffer.concat([auth.bytes, enc.bytes])),
    kernel: kernelAccepts(facts),
  };
  const ip = rules.allowsIpField ? at(OFFSET.ip) : undefined;
  if (ip !== undefined) key.ip = ip;
  return { ok: true, key };
}

/** bufio.ScanLines: split on \n, drop one trailing \r per line, no empty token after a final \n. */
export function scanLines(content: string): string[] {
  if (content === "") return [];
  const lines = content.split("\n");
  if (content.endsWith("\n")) lines.pop();
  return lines.map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
}

/**
 * Every line of a key file parsed on its own, up to and including the first failing line
 * (LoadIPSecKeys returns at the first error).
 */
export function parseKeyFile(minor: Minor, content: string): ParsedKeyFile {
  const lines: LineResult[] = [];
  for (const text of scanLines(content)) {
    const r = parseLine(RULES[minor], text);
    lines.push(r);
    if (!r.ok) break;
  }
  return { lines };
}

export type LoadResult = { ok: true; key: KeyFacts | undefined; replaced: number[] } | { ok: false; error: string; panic: boolean };

/**
 * LoadIPSecKeys over a parsed file, given the key the agent holds (`current`, undefined at
 * start). Each line replaces the previous one after the rotation checks; `replaced` lists the
 * SPIs whose removal clock starts now (keysRemovalTime / ipSecKeysRemovalTime).
 */
export function loadKeys(minor: Minor, file: ParsedKeyFile, current: KeyFacts | undefined): LoadResult {
  const rules = RULES[minor];
  let key = current;
  const replaced: number[] = [];
  for (const line of file.lines) {
    if (!line.ok) return { ok: false, error: line.error, panic: line.panic };
    const next = line.key;
    if (key !== undefined) {
      if (rules.rejectsSameSpi && key.spi === next.spi) {
        return { ok: false, panic: false, error: "invalid SPI: changing IPSec keys requires incrementing the key id" };
      }
      if (key.keyLen !== next.keyLen) return { ok: false, panic: false, error: "invalid key rotation: key length must not change" };
      if (key.spi !== next.spi) replaced.push(key.spi);
    }
    key = next;
  }
  if (rules.rejectsEmptyKeyFile && file.lines.length === 0) {
    return { ok: false, panic: false, error: "error scanning IPsec key: empty or malformed input" };
  }
  return { ok: true, key, replaced };
}

/**
 * Whether the kernel installs XFRM states for this key. Cilium checks none of this; the kernel
 * refuses the state (EINVAL / ENOENT) and no state, hence no key, is in use. Kernel rules:
 * rfc4106/rfc4543 take the AES key plus a 4-byte salt (AES keys are 16, 24 or 32 bytes); rfc4106
 * takes ICVs of 8, 12 or 16 bytes, rfc4543 16 only; cbc(aes) takes a 16/24/32-byte AES key; the
 * hmac() digests take any key length; any other name is an unknown algorithm.
 */
export function kernelAccepts(f: {
  kind: "aead" | "auth-crypt";
  algorithm: string;
  keyBytes: number;
  icvBits?: number;
}): { ok: true } | { ok: false; error: string } {
  const aesWithSalt = [20, 28, 36];
  if (f.kind === "aead") {
    const icvs: Record<string, number[]> = { "rfc4106(gcm(aes))": [64, 96, 128], "rfc4543(gcm(aes))": [128] };
    const allowed = icvs[f.algorithm];
    if (allowed === undefined) return { ok: false, error: `unknown AEAD algorithm ${safeName(f.algorithm)}` };
    if (!aesWithSalt.includes(f.keyBytes)) return { ok: false, error: `invalid key length ${f.keyBytes} for ${safeName(f.algorithm)}` };
    if (!allowed.includes(f.icvBits ?? 0)) return { ok: false, error: `invalid ICV length ${f.icvBits} for ${safeName(f.algorithm)}` };
    return { ok: true };
  }
  const [authAlgo, encAlgo] = f.algorithm.split("/");
  if (!/^hmac\((sha1|sha256|sha384|sha512|md5)\)$/.test(authAlgo ?? "")) return { ok: false, error: `unknown auth algorithm ${safeName(authAlgo ?? "")}` };
  if (encAlgo !== "cbc(aes)") return { ok: false, error: `unknown encryption algorithm ${safeName(encAlgo ?? "")}` };
  if (![16, 24, 32].includes(f.keyBytes)) return { ok: false, error: `invalid key length ${f.keyBytes} for ${encAlgo}` };
  return { ok: true };
}
