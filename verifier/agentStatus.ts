import { z } from "zod";

// Readers of what the agent's cilium-dbg prints with `-o json` (every supported version has it):
// `encrypt status` prints models.EncryptionStatus, `status` prints models.StatusResponse whose
// `encryption` member is the same model. What the fields mean for each Cilium version is judged
// in evaluate.ts; here only the shape is checked.

export interface IpsecStatus {
  keysInUse: number;
  maxSeqNumber: string | null;
  errorCount: number;
  xfrmErrors: Record<string, number>;
  decryptInterfaces: string[];
}

export interface WireguardInterfaceStatus {
  name: string;
  peerCount: number;
}

export interface WireguardStatus {
  interfaces: WireguardInterfaceStatus[];
  nodeEncryption: string | null;
}

export interface EncryptionStatus {
  // null when the agent did not answer (1.19+ still prints the kernel's view, with the error in msg).
  mode: string | null;
  msg: string | null;
  ipsec: IpsecStatus | null;
  wireguard: WireguardStatus | null;
}

export class AgentOutputError extends Error {
  override name = "AgentOutputError";
}

const count = z.number().int().nonnegative();
// Go marshals the model with omitempty: an absent number is 0, an absent string empty.
const encryptionSchema = z.object({
  mode: z.string().optional(),
  msg: z.string().optional(),
  ipsec: z
    .object({
      "decrypt-interfaces": z.array(z.string()).nullish(),
      "error-count": count.optional(),
      "keys-in-use": count.optional(),
      "max-seq-number": z.string().optional(),
      "xfrm-errors": z.record(z.string(), count).nullish(),
    })
    .optional(),
  wireguard: z
    .object({
      interfaces: z.array(z.object({ name: z.string().optional(), "peer-count": count.optional() })).nullish(),
      "node-encryption": z.string().optional(),
    })
    .optional(),
});

const statusSchema = z.object({
  cilium: z.object({ state: z.string().optional(), msg: z.string().optional() }).optional(),
  encryption: encryptionSchema.optional(),
});

function issues(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ");
}

function parseJson(what: string, output: string): unknown {
  const trimmed = output.trim();
  if (trimmed === "") throw new AgentOutputError(`empty ${what} output`);
  try {
    return JSON.parse(trimmed);
  } catch (e) {
    throw new AgentOutputError(`${what} output is not JSON: ${(e as Error).message}`);
  }
}

function fromModel(m: z.infer<typeof encryptionSchema>): EncryptionStatus {
  const ip = m.ipsec;
  const wg = m.wireguard;
  return {
    mode: m.mode ? m.mode : null,
    msg: m.msg ? m.msg : null,
    ipsec: ip
      ? {
          keysInUse: ip["keys-in-use"] ?? 0,
          maxSeqNumber: ip["max-seq-number"] ?? null,
          errorCount: ip["error-count"] ?? 0,
          xfrmErrors: { ...(ip["xfrm-errors"] ?? {}) },
          decryptInterfaces: ip["decrypt-interfaces"] ?? [],
        }
      : null,
    wireguard: wg
      ? {
          interfaces: (wg.interfaces ?? []).map((i) => ({ name: i.name ?? "", peerCount: i["peer-count"] ?? 0 })),
          nodeEncryption: wg["node-encryption"] ?? null,
        }
      : null,
  };
}

// `cilium-dbg encrypt status -o json`.
export function parseEncryptStatus(output: string): EncryptionStatus {
  const r = encryptionSchema.safeParse(parseJson("encrypt status", output));
  if (!r.success) throw new AgentOutputError(`encrypt status JSON: ${issues(r.error)}`);
  return fromModel(r.data);
}

export interface AgentStatus {
  // The agent's own health ("Ok", "Warning", "Failure"), for the report.
  state: string | null;
  // Absent until the agent's status collector has run its encryption probe once.
  encryption: EncryptionStatus | null;
}

// `cilium-dbg status -o json`: only the members the verifier uses are checked.
export function parseAgentStatus(output: string): AgentStatus {
  const r = statusSchema.safeParse(parseJson("status", output));
  if (!r.success) throw new AgentOutputError(`status JSON: ${issues(r.error)}`);
  return { state: r.data.cilium?.state ?? null, encryption: r.data.encryption ? fromModel(r.data.encryption) : null };
}

// What a failed `kubectl exec ... cilium-dbg` left on stderr, without kubectl's own trailer.
export function agentErrorMessage(stderr: string): string {
  const lines = stderr
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !/^command terminated with exit code \d+$/.test(l));
  return lines
    .join(" ")
    .replace(/^Error: /, "")
    .slice(0, 500);
}

// The limit printed after the highest output sequence number: "0x1e3/0xffffffff" up to 1.17,
// "0x1e3/0xffffffffffffffff" from 1.18, "N/A" before any packet was sent
// (cilium v1.16.19..v1.20.2 cilium-dbg/cmd/encrypt_status.go maxSequenceNumber).
export function maxSeqLimit(value: string | null): bigint | null {
  if (value === null || value === "N/A") return null;
  const m = /^0x[0-9a-fA-F]+\/0x([0-9a-fA-F]+)$/.exec(value);
  if (!m) throw new AgentOutputError(`cannot read max sequence number ${JSON.stringify(value)}`);
  return BigInt(`0x${m[1]}`);
}
