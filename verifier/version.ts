export interface CiliumVersion {
  major: number;
  minor: number;
  patch: number;
  text: string;
}

// Only these minors have fixtures behind the parsers and the expectations below; anything
// newer may change the agent output or the key arithmetic, so it must be added on purpose.
export const SUPPORTED_MINORS: readonly number[] = [16, 17, 18, 19, 20];

export function parseCiliumVersion(text: string): CiliumVersion {
  const m = /^v?(\d{1,3})\.(\d{1,3})\.(\d{1,4})(?:-[0-9A-Za-z.-]+)?$/.exec(text);
  if (!m) {
    throw new Error(`not a Cilium version "x.y.z": ${JSON.stringify(text)}`);
  }
  const v = { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]), text: text.replace(/^v/, '') };
  if (v.major !== 1 || !SUPPORTED_MINORS.includes(v.minor)) {
    throw new Error(`Cilium ${v.text} is not supported: supported are 1.16 to 1.20`);
  }
  return v;
}

export function atLeast(v: CiliumVersion, minor: number): boolean {
  return v.major > 1 || (v.major === 1 && v.minor >= minor);
}
