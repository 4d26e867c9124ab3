import { requireCiliumVersion, type CiliumVersion } from '../encryption/ciliumVersion';

export type EncryptionMode = 'ipsec' | 'wireguard';

export interface VerifierArgs {
  mode: EncryptionMode;
  namespace: string;
  ciliumVersion: CiliumVersion;
  kubeconfig: string | null;
  context: string | null;
  timeoutSeconds: number;
  wireCheck: boolean;
  nodeEncryption: boolean | null;
  strictMode: boolean | null;
  pollIntervalSeconds: number;
  workloadImage: string;
  captureImage: string;
}

// Pinned by tag so a run is reproducible; both can be overridden for mirrors/air-gapped clusters.
// busybox has httpd, wget and sleep; netshoot has tcpdump, iproute2 (ip -j) and iputils ping (-p).
export const DEFAULT_WORKLOAD_IMAGE = 'docker.io/library/busybox:1.36.1';
export const DEFAULT_CAPTURE_IMAGE = 'docker.io/nicolaka/netshoot:v0.13';

export class ArgsError extends Error {
  override name = 'ArgsError';
}

export const USAGE = `usage: npm run verify -- --stack <name> [flags to override]
       node --import tsx verifier/main.ts --mode <ipsec|wireguard> --namespace <ns> --cilium-version <x.y.z>
       [--kubeconfig <path>] [--context <name>] [--timeout <seconds>] [--wire-check <on|off>]
       [--node-encryption <true|false>] [--strict-mode <true|false>] [--poll-interval <seconds>]
       [--workload-image <ref>] [--capture-image <ref>]`;

const FLAGS = [
  'mode', 'namespace', 'cilium-version', 'kubeconfig', 'context', 'timeout', 'wire-check',
  'node-encryption', 'strict-mode', 'poll-interval', 'workload-image', 'capture-image',
] as const;
type Flag = (typeof FLAGS)[number];

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new ArgsError(`--${flag} must be one of ${allowed.join(', ')}; got ${JSON.stringify(value)}`);
}

function seconds(flag: string, value: string, min: number, max: number): number {
  const n = /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
  if (!(n >= min && n <= max)) {
    throw new ArgsError(`--${flag} must be a number of seconds from ${min} to ${max}; got ${JSON.stringify(value)}`);
  }
  return n;
}

function nonEmpty(flag: string, value: string): string {
  if (value.trim() === '' || value.startsWith('-')) {
    throw new ArgsError(`--${flag} needs a value, got ${JSON.stringify(value)}`);
  }
  return value;
}

// Kubernetes namespace names are DNS-1123 labels; checking here gives a clear message instead of
// a kubectl error after the rollout wait.
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export function parseVerifierArgs(argv: readonly string[]): VerifierArgs {
  const seen = new Map<Flag, string>();
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i]!;
    const m = /^--([a-z-]+)(?:=(.*))?$/s.exec(token);
    if (!m) throw new ArgsError(`unexpected argument ${JSON.stringify(token)}; flags look like --name value`);
    const name = m[1]!;
    if (!(FLAGS as readonly string[]).includes(name)) {
      throw new ArgsError(`unknown flag --${name}; known flags: ${FLAGS.map((f) => `--${f}`).join(', ')}`);
    }
    let value = m[2];
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith('--')) throw new ArgsError(`--${name} needs a value`);
      value = next;
      i++;
    }
    if (seen.has(name as Flag)) throw new ArgsError(`--${name} given more than once`);
    seen.set(name as Flag, value);
  }
  const get = (f: Flag): string | undefined => seen.get(f);
  const required = (f: Flag): string => {
    const v = get(f);
    if (v === undefined) throw new ArgsError(`--${f} is required`);
    return v;
  };

  const mode = oneOf('mode', required('mode'), ['ipsec', 'wireguard'] as const);
  const namespace = required('namespace');
  if (!DNS_LABEL.test(namespace)) {
    throw new ArgsError(`--namespace must be a Kubernetes namespace name (DNS-1123 label); got ${JSON.stringify(namespace)}`);
  }
  let ciliumVersion: CiliumVersion;
  try {
    ciliumVersion = requireCiliumVersion(required('cilium-version'));
  } catch (e) {
    if (e instanceof ArgsError) throw e;
    throw new ArgsError(`--cilium-version: ${(e as Error).message}`);
  }
  const bool = (f: Flag): boolean | null => {
    const v = get(f);
    return v === undefined ? null : oneOf(f, v, ['true', 'false'] as const) === 'true';
  };
  const optional = (f: Flag): string | null => {
    const v = get(f);
    return v === undefined ? null : nonEmpty(f, v);
  };
  const wire = get('wire-check');
  return {
    mode,
    namespace,
    ciliumVersion,
    kubeconfig: optional('kubeconfig'),
    context: optional('context'),
    timeoutSeconds: get('timeout') === undefined ? 600 : seconds('timeout', get('timeout')!, 1, 86400),
    wireCheck: wire === undefined ? true : oneOf('wire-check', wire, ['on', 'off'] as const) === 'on',
    nodeEncryption: bool('node-encryption'),
    strictMode: bool('strict-mode'),
    pollIntervalSeconds: get('poll-interval') === undefined ? 5 : seconds('poll-interval', get('poll-interval')!, 0.05, 300),
    workloadImage: optional('workload-image') ?? DEFAULT_WORKLOAD_IMAGE,
    captureImage: optional('capture-image') ?? DEFAULT_CAPTURE_IMAGE,
  };
}
