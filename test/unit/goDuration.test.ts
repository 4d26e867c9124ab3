import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ceilSeconds, formatGoDuration, MAX_GO_DURATION_NS, MAX_GO_DURATION_TEXT, parseGoDuration } from "../../encryption/goDuration";

/** time.Duration.String() for non-negative durations of a second or more. */
function goString(ns: bigint): string {
  const h = ns / 3_600_000_000_000n;
  const m = (ns / 60_000_000_000n) % 60n;
  const s = ns % 60_000_000_000n;
  const whole = s / 1_000_000_000n;
  const frac = (s % 1_000_000_000n).toString().padStart(9, "0").replace(/0+$/, "");
  return `${h > 0n ? `${h}h` : ""}${h > 0n || m > 0n ? `${m}m` : ""}${whole}${frac === "" ? "" : `.${frac}`}s`;
}

describe("Go durations", () => {
  it("parses what time.Duration.String() prints, to the nanosecond, up to the int64 limit (property)", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1_000_000_000n, max: MAX_GO_DURATION_NS }), (ns) => {
        assert.deepEqual(parseGoDuration(goString(ns)), { ok: true, ns });
      }),
    );
  });

  it("knows the edge of Go's range", () => {
    assert.equal(goString(MAX_GO_DURATION_NS), MAX_GO_DURATION_TEXT);
    assert.deepEqual(parseGoDuration(MAX_GO_DURATION_TEXT), { ok: true, ns: MAX_GO_DURATION_NS });
    assert.deepEqual(parseGoDuration("2562047h47m16.854775808s"), { ok: false, reason: "range" });
    assert.deepEqual(parseGoDuration("9223372036854775808ns"), { ok: false, reason: "range" });
  });

  it("accepts Go's other spellings", () => {
    for (const [text, ns] of [
      ["0", 0n],
      ["0s", 0n],
      [".5s", 500_000_000n],
      ["1.s", 1_000_000_000n],
      ["1h30m", 5_400_000_000_000n],
      ["1.5h", 5_400_000_000_000n],
      ["3µs", 3_000n],
      ["3μs", 3_000n],
      ["3us", 3_000n],
      ["2m3ms", 120_003_000_000n],
    ] as const) {
      assert.deepEqual(parseGoDuration(text), { ok: true, ns }, text);
    }
  });

  it("refuses what Go refuses, and signs", () => {
    for (const text of ["", "5", "5 m", "m", ".s", "5d", "5M", "1h 30m", "-5m", "+5m", "five minutes", "5m!"]) {
      assert.deepEqual(parseGoDuration(text), { ok: false, reason: "syntax" }, text);
    }
  });

  it("prints durations as time.Duration.String() does, and reads back what it prints (property)", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: MAX_GO_DURATION_NS }), (ns) => {
        assert.deepEqual(parseGoDuration(formatGoDuration(ns)), { ok: true, ns });
        if (ns >= 1_000_000_000n) assert.equal(formatGoDuration(ns), goString(ns));
      }),
    );
    // Outputs of Go 1.x time.Duration.String() for these values.
    for (const [ns, text] of [
      [0n, "0s"],
      [1n, "1ns"],
      [999n, "999ns"],
      [1_000n, "1µs"],
      [1_500n, "1.5µs"],
      [1_000_000n, "1ms"],
      [1_000_001n, "1.000001ms"],
      [999_999_999n, "999.999999ms"],
      [60_000_000_000n, "1m0s"],
      [3_600_000_000_000n, "1h0m0s"],
      [360_000_000_000n, "6m0s"],
      [MAX_GO_DURATION_NS, MAX_GO_DURATION_TEXT],
    ] as const) {
      assert.equal(formatGoDuration(ns), text, String(ns));
    }
  });

  it("rounds timeouts up to whole seconds", () => {
    assert.deepEqual([ceilSeconds(0n), ceilSeconds(1n), ceilSeconds(1_000_000_000n), ceilSeconds(1_000_000_001n)], [0, 1, 1, 2]);
  });
});
