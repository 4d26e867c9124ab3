/**
 * The line Cilium reads from the `cilium-ipsec-keys` Secret:
 *   `<id>+ rfc4106(gcm(aes)) <hex of AES key || 4-byte salt> 128`
 *
 * Cilium's own parser accepts lines the kernel later rejects (a 16-byte blob, double spaces, an ICV
 * of 256, `rfc4543` which authenticates but does not encrypt), and a malformed line can crash every
 * agent. So we only ever write lines from an allow-list and check them before they leave the program.
 */

/** AES-GCM variants Cilium and the kernel's XFRM both accept for `rfc4106(gcm(aes))`. */
export const IPSEC_ALGORITHMS = {
  "aes-128-gcm": { aeadName: "rfc4106(gcm(aes))", aesKeyBytes: 16 },
  "aes-192-gcm": { aeadName: "rfc4106(gcm(aes))", aesKeyBytes: 24 },
  "aes-256-gcm": { aeadName: "rfc4106(gcm(aes))", aesKeyBytes: 32 },
} as const;

export type IpsecAlgorithm = keyof typeof IPSEC_ALGORITHMS;
export const IPSEC_ALGORITHM_NAMES = Object.keys(IPSEC_ALGORITHMS) as IpsecAlgorithm[];

/** The kernel takes the last 4 bytes of an rfc4106 key as the GCM salt (crypto/gcm.c). */
const SALT_BYTES = 4;
/** ICV (authentication tag) length in bits: the 4th field. Not a key size. */
export const ICV_BITS = 128;

export const MIN_KEY_ID = 1;
export const MAX_KEY_ID = 15;

/** Random bytes the PSK needs: AES key plus salt (AES-128-GCM: 20, not the often-copied 16). */
export function pskBytes(algorithm: IpsecAlgorithm): number {
  return IPSEC_ALGORITHMS[algorithm].aesKeyBytes + SALT_BYTES;
}

/** Key ids live in 4 bits of the packet mark and must increase on every rotation, wrapping 15 → 1. */
export function nextKeyId(keyId: number): number {
  assertKeyId(keyId);
  return keyId === MAX_KEY_ID ? MIN_KEY_ID : keyId + 1;
}

export function isKeyId(value: unknown): value is number {
  return Number.isInteger(value) && (value as number) >= MIN_KEY_ID && (value as number) <= MAX_KEY_ID;
}

function assertKeyId(keyId: number): void {
  if (!isKeyId(keyId)) {
    throw new KeyLineError(`key id must be an integer from ${MIN_KEY_ID} to ${MAX_KEY_ID}, got ${keyId}`);
  }
}

export class KeyLineError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KeyLineError";
  }
}

export interface KeyLine {
  keyId: number;
  algorithm: IpsecAlgorithm;
  /** Lowercase hex of AES key || salt. Secret material. */
  hex: string;
  icvBits: number;
}

/** Builds the line and validates it; throws KeyLineError without echoing the key. */
export function buildKeyLine(keyId: number, algorithm: IpsecAlgorithm, hex: string): string {
  assertKeyId(keyId);
  const spec = IPSEC_ALGORITHMS[algorithm];
  if (spec === undefined) {
    throw new KeyLineError(`unknown algorithm ${JSON.stringify(algorithm)}; allowed: ${IPSEC_ALGORITHM_NAMES.join(", ")}`);
  }
  const line = `${keyId}+ ${spec.aeadName} ${hex} ${ICV_BITS}`;
  const parsed = parseKeyLine(line);
  if (parsed.algorithm !== algorithm) {
    throw new KeyLineError(`key material is ${hex.length / 2} bytes, ${algorithm} needs ${pskBytes(algorithm)} (AES key + ${SALT_BYTES}-byte salt)`);
  }
  return line;
}

const ID_FIELD = /^([1-9][0-9]?)\+$/;
const HEX = /^[0-9a-f]+$/;

/**
 * A malformed line can carry key material in any field (fields shifted, a second key, a base64 key),
 * so a field is quoted back only when its shape rules that out: short digits for the id and ICV, a
 * kernel algorithm name (letters and parentheses, no run of 8 hex digits) for the AEAD.
 */
function fieldForMessage(field: string, safe: RegExp): string {
  return safe.test(field) && !/[0-9a-f]{8}/i.test(field) ? JSON.stringify(field) : `a ${field.length}-character field (not shown: it may hold key material)`;
}
const SAFE_ID = /^[0-9+-]{1,4}$/;
const SAFE_AEAD = /^[a-z0-9_]{1,24}\([a-z0-9_,()]{1,40}\)$/;
const SAFE_ICV = /^[0-9]{1,4}$/;

/**
 * Parses a line the way we require it to look: exactly one line, four fields separated by single
 * spaces, `+` after the id, an allow-listed AEAD, lowercase hex of a valid length, ICV 128.
 * Error messages never include the key material.
 */
export function parseKeyLine(line: string): KeyLine {
  if (/[\r\n]/.test(line)) {
    throw new KeyLineError("key line must be a single line with no line break (cilium-cli rotate-key rejects a trailing newline)");
  }
  if (line !== line.trim()) {
    throw new KeyLineError("key line must not start or end with whitespace (a leading space crashes Cilium agents before 1.20)");
  }
  const fields = line.split(" ");
  if (fields.some((f) => f === "")) {
    throw new KeyLineError("key line fields must be separated by single spaces (Cilium splits on one space)");
  }
  if (fields.length !== 4) {
    throw new KeyLineError(`key line must have 4 fields "<id>+ rfc4106(gcm(aes)) <hex> ${ICV_BITS}", found ${fields.length}`);
  }
  const [idField, aead, hex, icv] = fields as [string, string, string, string];
  const id = ID_FIELD.exec(idField);
  if (id === null) {
    throw new KeyLineError(`key id field must be 1..15 followed by "+" (per-tunnel keys), got ${fieldForMessage(idField, SAFE_ID)}`);
  }
  const keyId = Number(id[1]);
  assertKeyId(keyId);
  if (aead !== "rfc4106(gcm(aes))") {
    throw new KeyLineError(`algorithm ${fieldForMessage(aead, SAFE_AEAD)} is not allowed; only rfc4106(gcm(aes)) (AES-GCM) is`);
  }
  if (!HEX.test(hex) || hex.length % 2 !== 0) {
    throw new KeyLineError("key material must be an even number of lowercase hex digits");
  }
  const bytes = hex.length / 2;
  const algorithm = IPSEC_ALGORITHM_NAMES.find((a) => pskBytes(a) === bytes);
  if (algorithm === undefined) {
    const allowed = IPSEC_ALGORITHM_NAMES.map((a) => `${pskBytes(a)} (${a})`).join(", ");
    throw new KeyLineError(`key material is ${bytes} bytes; allowed: ${allowed}, each AES key + ${SALT_BYTES}-byte salt`);
  }
  if (icv !== String(ICV_BITS)) {
    throw new KeyLineError(`last field is the ICV length in bits and must be ${ICV_BITS}, got ${fieldForMessage(icv, SAFE_ICV)}`);
  }
  return { keyId, algorithm, hex, icvBits: ICV_BITS };
}
