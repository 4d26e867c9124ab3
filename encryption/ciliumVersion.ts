/**
 * Cilium versions this product knows: the Helm values, agent outputs and key arithmetic differ
 * between minors, and each supported minor has tests behind it, so a newer one is added on purpose.
 */

export const MIN_CILIUM_MINOR = 16;
export const MAX_CILIUM_MINOR = 20;
/**
 * Cilium ships a patch about once a month per maintained minor; the newest patches the module proxy
 * serves are 1.16.19 to 1.20.2 (toolchain/pins.env), so a three-digit patch is a typo, not a release.
 */
export const MAX_CILIUM_PATCH = 99;
export const SUPPORTED_CILIUM = `1.${MIN_CILIUM_MINOR}.x to 1.${MAX_CILIUM_MINOR}.x`;
const ALLOWED = `allowed: 1.<minor>.<patch> with minor ${MIN_CILIUM_MINOR} to ${MAX_CILIUM_MINOR} and patch 0 to ${MAX_CILIUM_PATCH}, such as 1.20.2`;

export interface CiliumVersion {
  major: number;
  minor: number;
  patch: number;
  text: string;
}

const PLAIN = /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;
const SEMVER_SUFFIX = /^v?\d+\.\d+\.\d+[-+]/;

/**
 * Parses a pinned chart version; returns an error message naming what is allowed instead of throwing
 * (`shown` stands for the version in it, for callers that must not echo it).
 * Only a released version in plain x.y.z form: Helm looks a version up in the chart index by its exact
 * text and otherwise as a semver constraint (helm v3.18.6 pkg/repo/index.go IndexFile.Get, likewise
 * pkg/registry/util.go for OCI tags), so "1.20.2+meta" installs 1.20.2 while the program compares
 * the release against "1.20.2+meta", and a "-rc.1" is a release candidate none of our facts are from.
 */
export function parseCiliumVersion(text: string, shown = text): CiliumVersion | string {
  if (SEMVER_SUFFIX.test(text)) {
    return `must be a released chart version without a pre-release ("-rc.1") or build ("+meta") suffix: Helm resolves a suffixed version to another chart than it names, or to a release candidate; ${ALLOWED}`;
  }
  const m = PLAIN.exec(text);
  if (m === null) {
    return `must be an exact chart version such as 1.18.6 (pinned, no ranges), supported: ${SUPPORTED_CILIUM}; ${ALLOWED}`;
  }
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (major !== 1 || minor < MIN_CILIUM_MINOR || minor > MAX_CILIUM_MINOR) {
    return `Cilium ${shown} is not supported; supported: ${SUPPORTED_CILIUM}; ${ALLOWED}`;
  }
  if (patch > MAX_CILIUM_PATCH) {
    return `Cilium ${shown} is not a release: no supported minor has come near patch ${MAX_CILIUM_PATCH}; ${ALLOWED}`;
  }
  return { major, minor, patch, text: text.replace(/^v/, "") };
}

/** For command-line callers: the parsed version, or an Error naming the supported range. */
export function requireCiliumVersion(text: string): CiliumVersion {
  const v = parseCiliumVersion(text);
  if (typeof v === "string") throw new Error(v);
  return v;
}

export function atLeast(v: CiliumVersion, minor: number): boolean {
  return v.major > 1 || (v.major === 1 && v.minor >= minor);
}
