/**
 * Cilium versions this product knows: the Helm values, agent outputs and key arithmetic differ
 * between minors, and each supported minor has tests behind it, so a newer one is added on purpose.
 */

export const MIN_CILIUM_MINOR = 16;
export const MAX_CILIUM_MINOR = 20;
export const SUPPORTED_CILIUM = `1.${MIN_CILIUM_MINOR}.x to 1.${MAX_CILIUM_MINOR}.x`;

export interface CiliumVersion {
  major: number;
  minor: number;
  patch: number;
  text: string;
}

const SEMVER = /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

/** Parses a pinned chart version; returns an error message naming the supported range instead of throwing. */
export function parseCiliumVersion(text: string): CiliumVersion | string {
  const m = SEMVER.exec(text);
  if (m === null) {
    return `must be an exact chart version such as 1.18.6 (pinned, no ranges), supported: ${SUPPORTED_CILIUM}`;
  }
  const [major, minor, patch] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (major !== 1 || minor < MIN_CILIUM_MINOR || minor > MAX_CILIUM_MINOR) {
    return `Cilium ${text} is not supported; supported: ${SUPPORTED_CILIUM}`;
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
