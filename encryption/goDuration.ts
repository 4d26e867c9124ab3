/**
 * Go duration strings, parsed the way the agent parses them (viper → time.ParseDuration), so that a
 * value the agent would refuse or wrap around is refused here first. Exact nanoseconds as BigInt:
 * a JavaScript number cannot tell 2^63-1 ns from 2^63 ns.
 */

/** time.Duration is an int64 of nanoseconds: at most 2562047h47m16.854775807s. */
export const MAX_GO_DURATION_NS = (1n << 63n) - 1n;
export const MAX_GO_DURATION_TEXT = "2562047h47m16.854775807s";

// go src/time/format.go unitMap (both micro signs are accepted).
const UNIT_NS: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n,
  μs: 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

const ELEMENT = /^(\d*)(?:\.(\d*))?([^\d.]+)/;

export type GoDuration = { ok: true; ns: bigint } | { ok: false; reason: "syntax" | "range" };

/**
 * Parses a non-negative Go duration ("0", "90s", "1h30m", "1.5h"). A sign is refused: no setting here
 * takes a negative duration. `range` means Go itself would fail with "invalid duration" (overflow).
 */
export function parseGoDuration(text: string): GoDuration {
  if (text === "0") return { ok: true, ns: 0n };
  if (text === "") return { ok: false, reason: "syntax" };
  let rest = text;
  let total = 0n;
  while (rest !== "") {
    const m = ELEMENT.exec(rest);
    if (m === null) return { ok: false, reason: "syntax" };
    const [whole, int = "", frac = "", unitName = ""] = m as unknown as [string, string?, string?, string?];
    const unit = UNIT_NS[unitName];
    if ((int === "" && frac === "") || unit === undefined) return { ok: false, reason: "syntax" };
    total += BigInt(int === "" ? "0" : int) * unit;
    if (frac !== "") total += (BigInt(frac) * unit) / 10n ** BigInt(frac.length);
    if (total > MAX_GO_DURATION_NS) return { ok: false, reason: "range" };
    rest = rest.slice(whole.length);
  }
  return { ok: true, ns: total };
}

/** Whole seconds, rounded up (a timeout of 0.5s still gets one second). */
export function ceilSeconds(ns: bigint): number {
  return Number((ns + 999_999_999n) / 1_000_000_000n);
}

const SECOND_NS = 1_000_000_000n;

/** `frac` nanoseconds as Go prints a fraction of `unit` nanoseconds: digits without trailing zeros. */
function fraction(frac: bigint, unit: bigint): string {
  if (frac === 0n) return "";
  const digits = unit.toString().length - 1;
  return `.${frac.toString().padStart(digits, "0").replace(/0+$/, "")}`;
}

/** A non-negative duration as Go's time.Duration.String() prints it ("1m30s", "1.5ms", "0s"). */
export function formatGoDuration(ns: bigint): string {
  if (ns === 0n) return "0s";
  if (ns < 1_000n) return `${ns}ns`;
  if (ns < 1_000_000n) return `${ns / 1_000n}${fraction(ns % 1_000n, 1_000n)}µs`;
  if (ns < SECOND_NS) return `${ns / 1_000_000n}${fraction(ns % 1_000_000n, 1_000_000n)}ms`;
  const h = ns / 3_600_000_000_000n;
  const m = (ns / 60_000_000_000n) % 60n;
  const s = ns % 60_000_000_000n;
  return `${h > 0n ? `${h}h` : ""}${h > 0n || m > 0n ? `${m}m` : ""}${s / SECOND_NS}${fraction(s % SECOND_NS, SECOND_NS)}s`;
}
