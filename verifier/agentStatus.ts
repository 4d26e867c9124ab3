import { z } from 'zod';

// Normalised view of `cilium-dbg encrypt status` (and of the Encryption part of `cilium-dbg status`),
// whatever format the agent printed it in.
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

export type OutputFormat = 'json' | 'json-legacy' | 'text';

export interface EncryptionStatus {
  mode: string;
  msg: string | null;
  ipsec: IpsecStatus | null;
  wireguard: WireguardStatus | null;
  format: OutputFormat;
}

export class AgentOutputError extends Error {
  override name = 'AgentOutputError';
}

// The procfs XfrmStat fields that `encrypt status` copies when non-zero. An unknown name is still
// reported (newer kernels add counters), marked so a reader knows to look it up.
export const XFRM_ERROR_NAMES: readonly string[] = [
  'XfrmInError', 'XfrmInBufferError', 'XfrmInHdrError', 'XfrmInNoStates', 'XfrmInStateProtoError',
  'XfrmInStateModeError', 'XfrmInStateSeqError', 'XfrmInStateExpired', 'XfrmInStateMismatch',
  'XfrmInStateInvalid', 'XfrmInTmplMismatch', 'XfrmInNoPols', 'XfrmInPolBlock', 'XfrmInPolError',
  'XfrmOutError', 'XfrmOutBundleGenError', 'XfrmOutBundleCheckError', 'XfrmOutNoStates',
  'XfrmOutStateProtoError', 'XfrmOutStateModeError', 'XfrmOutStateSeqError', 'XfrmOutStateExpired',
  'XfrmOutPolBlock', 'XfrmOutPolDead', 'XfrmOutPolError', 'XfrmFwdHdrError', 'XfrmOutStateInvalid',
  'XfrmAcquireError',
];

const count = z.number().int().nonnegative();
// Go marshals these with omitempty, so an absent number means 0 and an absent list means empty.
const modelSchema = z.object({
  mode: z.string().min(1),
  msg: z.string().optional(),
  ipsec: z
    .object({
      'decrypt-interfaces': z.array(z.string()).nullish(),
      'error-count': count.optional(),
      'keys-in-use': count.optional(),
      'max-seq-number': z.string().optional(),
      'xfrm-errors': z.record(z.string(), count).nullish(),
    })
    .optional(),
  wireguard: z
    .object({
      interfaces: z
        .array(z.object({ name: z.string().min(1), 'peer-count': count.optional() }))
        .nullish(),
      'node-encryption': z.string().optional(),
    })
    .optional(),
});

// Pre-models agents (≈1.13/1.14) printed flat keys; kept so an older build still parses.
const legacySchema = z.object({
  'encryption-type': z.string().min(1),
  'ipsec-decrypt-interfaces': z.array(z.string()).nullish(),
  'ipsec-max-seq-number': z.string().optional(),
  'ipsec-keys-in-use': count.optional(),
  'ipsec-errors-count': count.optional(),
  'xfrm-errors': z.record(z.string(), count).nullish(),
  'wireguard-interfaces': z
    .array(z.object({ 'interface-name': z.string().min(1), 'peer-count': count.optional() }))
    .nullish(),
});

function issues(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

function fromModel(m: z.infer<typeof modelSchema>, format: OutputFormat): EncryptionStatus {
  return {
    mode: m.mode,
    msg: m.msg ? m.msg : null,
    ipsec: m.ipsec
      ? {
          keysInUse: m.ipsec['keys-in-use'] ?? 0,
          maxSeqNumber: m.ipsec['max-seq-number'] ?? null,
          errorCount: m.ipsec['error-count'] ?? 0,
          xfrmErrors: { ...(m.ipsec['xfrm-errors'] ?? {}) },
          decryptInterfaces: m.ipsec['decrypt-interfaces'] ?? [],
        }
      : null,
    wireguard: m.wireguard
      ? {
          interfaces: (m.wireguard.interfaces ?? []).map((i) => ({ name: i.name, peerCount: i['peer-count'] ?? 0 })),
          nodeEncryption: m.wireguard['node-encryption'] ?? null,
        }
      : null,
    format,
  };
}

function parseJsonDocument(value: unknown): EncryptionStatus {
  if (typeof value === 'object' && value !== null && 'encryption-type' in value) {
    const r = legacySchema.safeParse(value);
    if (!r.success) throw new AgentOutputError(`legacy encrypt status JSON: ${issues(r.error)}`);
    const l = r.data;
    const hasIpsec = l['ipsec-keys-in-use'] !== undefined || l['ipsec-max-seq-number'] !== undefined;
    return {
      mode: l['encryption-type'],
      msg: null,
      ipsec: hasIpsec
        ? {
            keysInUse: l['ipsec-keys-in-use'] ?? 0,
            maxSeqNumber: l['ipsec-max-seq-number'] ?? null,
            errorCount: l['ipsec-errors-count'] ?? 0,
            xfrmErrors: { ...(l['xfrm-errors'] ?? {}) },
            decryptInterfaces: l['ipsec-decrypt-interfaces'] ?? [],
          }
        : null,
      wireguard: l['wireguard-interfaces']
        ? {
            interfaces: l['wireguard-interfaces'].map((i) => ({ name: i['interface-name'], peerCount: i['peer-count'] ?? 0 })),
            nodeEncryption: null,
          }
        : null,
      format: 'json-legacy',
    };
  }
  const r = modelSchema.safeParse(value);
  if (!r.success) throw new AgentOutputError(`encrypt status JSON: ${issues(r.error)}`);
  return fromModel(r.data, 'json');
}

function parseCount(label: string, value: string): number {
  if (!/^\d+$/.test(value)) throw new AgentOutputError(`"${label}" is not a count: ${JSON.stringify(value)}`);
  return Number(value);
}

// The printer pads values with %-26s/%-26d, so every value may carry trailing spaces, and Go's
// map iteration prints the XFRM lines in any order.
export function parseEncryptStatusText(output: string): EncryptionStatus {
  let mode: string | null = null;
  let ipsec: IpsecStatus | null = null;
  let wireguard: WireguardStatus | null = null;
  let currentWg: WireguardInterfaceStatus | null = null;
  let inErrors = false;
  const ensureIpsec = (): IpsecStatus =>
    (ipsec ??= { keysInUse: 0, maxSeqNumber: null, errorCount: 0, xfrmErrors: {}, decryptInterfaces: [] });

  for (const raw of output.split(/\r?\n/)) {
    if (raw.trim() === '') continue;
    const indented = /^\s/.test(raw);
    const line = raw.trim();
    const colon = line.indexOf(':');
    if (colon < 0) throw new AgentOutputError(`unexpected line in encrypt status text: ${JSON.stringify(line)}`);
    const key = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (indented) {
      if (inErrors && /^Xfrm[A-Za-z]+$/.test(key)) {
        ensureIpsec().xfrmErrors[key] = parseCount(key, value);
      } else if (currentWg && key === 'Number of peers') {
        currentWg.peerCount = parseCount(key, value);
      } else if (currentWg && key === 'Public key') {
        // Public, but the report has no use for it.
      } else {
        throw new AgentOutputError(`unexpected indented line in encrypt status text: ${JSON.stringify(line)}`);
      }
      continue;
    }
    inErrors = false;
    switch (key) {
      case 'Encryption':
        if (value === '') throw new AgentOutputError('"Encryption:" line has no mode');
        mode = value;
        break;
      case 'Decryption interface(s)':
        ensureIpsec().decryptInterfaces = value === '' ? [] : value.split(',').map((s) => s.trim());
        break;
      case 'Keys in use':
        ensureIpsec().keysInUse = parseCount(key, value);
        break;
      case 'Max Seq. Number':
        ensureIpsec().maxSeqNumber = value;
        break;
      case 'Errors':
        ensureIpsec().errorCount = parseCount(key, value);
        inErrors = true;
        break;
      case 'Interface':
        wireguard ??= { interfaces: [], nodeEncryption: null };
        currentWg = { name: value, peerCount: 0 };
        wireguard.interfaces.push(currentWg);
        break;
      default:
        throw new AgentOutputError(`unexpected line in encrypt status text: ${JSON.stringify(line)}`);
    }
  }
  if (mode === null) throw new AgentOutputError('no "Encryption:" line in encrypt status output');
  return { mode, msg: null, ipsec, wireguard, format: 'text' };
}

export function parseEncryptStatus(output: string): EncryptionStatus {
  const trimmed = output.trim();
  if (trimmed === '') throw new AgentOutputError('empty encrypt status output');
  if (trimmed.startsWith('{')) {
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch (e) {
      throw new AgentOutputError(`encrypt status output is not valid JSON: ${(e as Error).message}`);
    }
    return parseJsonDocument(value);
  }
  return parseEncryptStatusText(output);
}

// `cilium-dbg status`: only the encryption part matters. JSON is models.StatusResponse whose
// `encryption` field is the same EncryptionStatus model; text is one tabwriter-padded line.
export interface AgentStatusEncryption {
  mode: string;
  nodeEncryption: string | null;
  peers: number | null;
  msg: string | null;
}

export function parseAgentStatus(output: string): AgentStatusEncryption {
  const trimmed = output.trim();
  if (trimmed.startsWith('{')) {
    let doc: unknown;
    try {
      doc = JSON.parse(trimmed);
    } catch (e) {
      throw new AgentOutputError(`status output is not valid JSON: ${(e as Error).message}`);
    }
    if (typeof doc !== 'object' || doc === null || !('encryption' in doc)) {
      throw new AgentOutputError('status JSON has no "encryption" field');
    }
    const enc = parseJsonDocument((doc as { encryption: unknown }).encryption);
    const wg = enc.wireguard?.interfaces[0];
    return {
      mode: enc.mode,
      nodeEncryption: enc.wireguard?.nodeEncryption ?? null,
      peers: wg ? wg.peerCount : null,
      msg: enc.msg,
    };
  }
  const line = output.split(/\r?\n/).find((l) => /^Encryption:/.test(l));
  if (!line) throw new AgentOutputError('no "Encryption:" line in status output');
  const m = /^Encryption:\s+(\S+)\s*(.*)$/.exec(line.trimEnd());
  if (!m) throw new AgentOutputError(`cannot read status line ${JSON.stringify(line)}`);
  const rest = m[2]!;
  const nodeEnc = /NodeEncryption:\s*([A-Za-z]+)/.exec(rest);
  const peers = /Peers:\s*(\d+)/.exec(rest);
  const bracketed = rest.startsWith('[');
  return {
    mode: m[1]!,
    nodeEncryption: nodeEnc ? nodeEnc[1]! : null,
    peers: peers ? Number(peers[1]) : null,
    msg: rest !== '' && !bracketed ? rest : null,
  };
}

export interface SeqUsage {
  current: bigint;
  limit: bigint;
}

// "0x1e3/0xffffffff", or "N/A" when no SA has sent anything yet.
export function parseMaxSeq(value: string | null): SeqUsage | null {
  if (value === null || value === 'N/A' || value === '') return null;
  const m = /^0x([0-9a-fA-F]+)\/0x([0-9a-fA-F]+)$/.exec(value);
  if (!m) throw new AgentOutputError(`cannot read max sequence number ${JSON.stringify(value)}`);
  const limit = BigInt('0x' + m[2]);
  if (limit === 0n) throw new AgentOutputError(`max sequence number has a zero limit: ${JSON.stringify(value)}`);
  return { current: BigInt('0x' + m[1]), limit };
}
