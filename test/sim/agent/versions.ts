// What differs between the Cilium minors the simulator answers for. Each field names the file it
// was read from; paths are relative to the module root (/root/go/pkg/mod/github.com/cilium/cilium@vX).

export const MINORS = ["1.16", "1.17", "1.18", "1.19", "1.20"] as const;
export type Minor = (typeof MINORS)[number];

/** The exact patch releases whose source the rules were read from. */
export const SOURCE_VERSION: Record<Minor, string> = {
  "1.16": "1.16.19",
  "1.17": "1.17.16",
  "1.18": "1.18.11",
  "1.19": "1.19.7",
  "1.20": "1.20.2",
};

export interface VersionRules {
  minor: Minor;
  /**
   * How a key line is cut into fields. pkg/datapath/linux/ipsec/ipsec_linux.go LoadIPSecKeys:
   * 1.16.19 `strings.Split(scanner.Text(), " ")`; 1.17.16+ `strings.Fields(strings.TrimSpace(...))`.
   */
  keySplit: "single-space" | "fields";
  /** 1.16.19 parseSPI: a non-numeric first field means "no SPI" (spi 1, fields shift left). Later: error. */
  legacyNoSpi: boolean;
  /** 1.16.19 parseSPI: only `N+` turns on ESN and per-node-pair keys; without it one global key is used. 1.17.16+: always per node pair. */
  perNodeKeysNeedPlus: boolean;
  /** 1.16.19: maxOffset = offsetIP (a sixth field, an IP, is allowed); 1.17.16+: maxOffset = offsetEncKey. */
  allowsIpField: boolean;
  /** 1.17.16+ LoadIPSecKeys: "invalid SPI: changing IPSec keys requires incrementing the key id". */
  rejectsSameSpi: boolean;
  /** 1.20.2 loadIPSecKeys: "error scanning IPsec key: empty or malformed input" when no line set an SPI. */
  rejectsEmptyKeyFile: boolean;
  /**
   * Extra XFRM states for the overlay (pkg/datapath/linux/ipsec.go): 1.16.19 only with
   * enable-ipsec-encrypted-overlay (IPv4); 1.17.16 in tunnel mode, IPv4 only (enableIPSecIPv4Do);
   * 1.18.11+ in tunnel mode, both families (enableIPSecIPv4Do and enableIPSecIPv6Do).
   */
  overlay: "opt-in-ipv4" | "tunnel-ipv4" | "tunnel-both";
  /**
   * cilium-dbg/cmd/encrypt_status.go getEncryptionStatus: 1.16.19-1.18.11 ask the agent first and
   * Fatalf when it does not answer; 1.19.7+ read the kernel first and put every error in `msg`.
   */
  encryptStatus: "agent-first" | "kernel-first";
  /** cilium-dbg/cmd/encrypt_status.go maxSequenceNumber: the denominator printed after the max oseq. */
  seqSpace: "0xffffffff" | "0xffffffffffffffff";
  /** pkg/wireguard/agent/agent.go Status: 1.19.7+ also reports node-encrypt-opt-out-labels. */
  wgStatusHasOptOutLabels: boolean;
  /** pkg/wireguard/agent/agent.go Start: 1.19.7+ delete cilium_wg0 when WireGuard is off. */
  wgDeviceRemovedWhenOff: boolean;
  /** 1.20.2 ipsec_linux.go keyfileWatcher: waits a random [0, keyRotationDuration/10) before loading. */
  keyWatcherJitter: boolean;
  /** cilium-dbg/cmd/status.go statusDaemon: 1.16.19-1.18.11 "Cluster health:\t\tProbe disabled", 1.19.7+ one tab. */
  clusterHealthLine: string;
}

const base = {
  keySplit: "fields",
  legacyNoSpi: false,
  perNodeKeysNeedPlus: false,
  allowsIpField: false,
  rejectsSameSpi: true,
  rejectsEmptyKeyFile: false,
  encryptStatus: "agent-first",
  seqSpace: "0xffffffff",
  wgStatusHasOptOutLabels: false,
  wgDeviceRemovedWhenOff: false,
  keyWatcherJitter: false,
  clusterHealthLine: "Cluster health:\t\tProbe disabled\n",
} as const;

export const RULES: Record<Minor, VersionRules> = {
  "1.16": {
    ...base,
    minor: "1.16",
    keySplit: "single-space",
    legacyNoSpi: true,
    perNodeKeysNeedPlus: true,
    allowsIpField: true,
    rejectsSameSpi: false,
    overlay: "opt-in-ipv4",
  },
  "1.17": { ...base, minor: "1.17", overlay: "tunnel-ipv4" },
  "1.18": { ...base, minor: "1.18", overlay: "tunnel-both", seqSpace: "0xffffffffffffffff" },
  "1.19": {
    ...base,
    minor: "1.19",
    overlay: "tunnel-both",
    encryptStatus: "kernel-first",
    seqSpace: "0xffffffffffffffff",
    wgStatusHasOptOutLabels: true,
    wgDeviceRemovedWhenOff: true,
    clusterHealthLine: "Cluster health:\tProbe disabled\n",
  },
  "1.20": {
    ...base,
    minor: "1.20",
    overlay: "tunnel-both",
    rejectsEmptyKeyFile: true,
    encryptStatus: "kernel-first",
    seqSpace: "0xffffffffffffffff",
    wgStatusHasOptOutLabels: true,
    wgDeviceRemovedWhenOff: true,
    keyWatcherJitter: true,
    clusterHealthLine: "Cluster health:\tProbe disabled\n",
  },
};

/**
 * The minor of an agent image reference as the chart renders it (`repo:vX.Y.Z`, optionally
 * `@sha256:...`), or undefined when the tag names no supported minor.
 */
export function minorOfImage(image: string): Minor | undefined {
  const noDigest = image.split("@")[0] ?? "";
  const lastSlash = noDigest.lastIndexOf("/");
  const nameTag = noDigest.slice(lastSlash + 1);
  const colon = nameTag.lastIndexOf(":");
  if (colon < 0) return undefined;
  const m = /^v?(\d+)\.(\d+)\.\d+/.exec(nameTag.slice(colon + 1));
  if (m === null) return undefined;
  const minor = `${m[1]}.${m[2]}`;
  return (MINORS as readonly string[]).includes(minor) ? (minor as Minor) : undefined;
}

/** Durations, in ms, that the agent's own timers use. */
export const TIMERS = {
  // pkg/datapath/linux/ipsec/cell.go (1.16.19-1.18.11) and ipsec_linux.go StartBackgroundJobs
  // (1.19.7, 1.20.2): job.Timer("stale-key-reclaimer", ..., time.Minute); hive's ticker first
  // fires one interval after start.
  staleKeyReclaimMs: 60_000,
};
