/**
 * Judges a key line found in an existing `cilium-ipsec-keys` Secret: keep it as is, or refuse it and
 * say whether the program can replace it by a rotation. Messages never contain key material.
 */
import { atLeast, type CiliumVersion } from "../encryption/ciliumVersion";
import { ICV_BITS, type IpsecAlgorithm, KeyLineError, parseKeyLine } from "../encryption/keyLine";

export type KeyJudgement =
  | { kind: "keep"; keyId: number; algorithm: IpsecAlgorithm }
  | {
      kind: "refuse";
      /** The id Cilium reads from the line, when it reads one: a replacing key needs another id. */
      keyId?: number;
      reason: string;
      /** Whether Cilium accepts a generated AES-GCM key (ICV 128) as the next key (see `ciliumKeyLength`). */
      rotatable: boolean;
    };

/**
 * The length Cilium compares on a key rotation ("key length must not change"): ICV/8 for an AEAD
 * line, the hex length of the auth key otherwise (cilium v1.20.2 pkg/datapath/linux/ipsec/ipsec_linux.go
 * loadIPSecKeys and decodeIPSecKey; same in v1.16.19). Undefined when Cilium cannot read the line,
 * in which case agents hold no key from it and any new key is accepted.
 */
function ciliumKeyLength(fields: string[]): number | undefined {
  if (fields.length === 4) {
    const icv = Number(fields[3]);
    return [96, 128, 256].includes(icv) && fields[1]!.startsWith("rfc") ? icv / 8 : undefined;
  }
  if (fields.length === 5 || fields.length === 6) return fields[2]!.replace(/^0x/, "").length;
  return undefined;
}

/** The key id Cilium reads: the first field without its "+", 1..15 (cilium v1.20.2 ipsec_linux.go parseSPI). */
function ciliumKeyId(field: string | undefined): number | undefined {
  const m = /^(\d+)\+?$/.exec(field ?? "");
  const id = m === null ? NaN : Number(m[1]);
  return id >= 1 && id <= 15 ? id : undefined;
}

/** The AES-GCM key length the generated replacement key compares as (ICV 128 bits / 8). */
const GENERATED_KEY_LENGTH = ICV_BITS / 8;

/** The line parsed by our strict rules, or the rule it breaks. */
function strict(line: string): { keyId: number; algorithm: IpsecAlgorithm } | string {
  try {
    return parseKeyLine(line);
  } catch (e) {
    if (e instanceof KeyLineError) return e.message;
    throw e;
  }
}

/** The same line with "+" after a bare key id. */
const withPlus = (line: string) => line.replace(/^(\d+) /, "$1+ ");

export function judgeKeyLine(line: string, version: CiliumVersion): KeyJudgement {
  const parsed = strict(line);
  if (typeof parsed !== "string") return { kind: "keep", keyId: parsed.keyId, algorithm: parsed.algorithm };
  const plussed = /^\d+ /.test(line) ? strict(withPlus(line)) : parsed;
  // From 1.17 Cilium ignores the "+" and always uses per-tunnel keys (cilium v1.17.16
  // pkg/datapath/linux/ipsec/ipsec_linux.go parseSPI), so a line without it works as written.
  if (typeof plussed !== "string" && atLeast(version, 17)) return { kind: "keep", keyId: plussed.keyId, algorithm: plussed.algorithm };

  const fields = line.trim().split(/\s+/);
  const keyId = ciliumKeyId(fields[0]);
  const length = ciliumKeyLength(fields);
  const rotatable = keyId !== undefined && (length === undefined || length === GENERATED_KEY_LENGTH);
  const reason = refusalReason(fields, typeof plussed !== "string", parsed);
  return { kind: "refuse", ...(keyId === undefined ? {} : { keyId }), reason, rotatable };
}

function refusalReason(fields: string[], validWithPlus: boolean, strictError: string): string {
  const hex = fields[2]?.replace(/^0x/, "") ?? "";
  if (fields.length === 4 && fields[1] === "rfc4106(gcm(aes))" && /^[0-9a-fA-F]+$/.test(hex) && hex.length === 32) {
    return (
      "its key is 16 bytes: for rfc4106(gcm(aes)) the kernel takes the last 4 bytes as the salt, leaving a 12-byte AES key " +
      "that the kernel refuses, so no traffic is encrypted (Cilium accepts the line: it checks only that the key is hex, " +
      "cilium v1.20.2 pkg/datapath/linux/ipsec/ipsec_linux.go loadIPSecKeys); AES-128-GCM needs 20 bytes"
    );
  }
  if (validWithPlus) {
    return (
      'it has no "+" after the key id: Cilium 1.16 then uses one global key for every tunnel instead of per-tunnel keys ' +
      "(deprecated and insecure, cilium v1.16.19 pkg/datapath/linux/ipsec/ipsec_linux.go parseSPI)"
    );
  }
  return `the program cannot use it: ${strictError}`;
}
