/**
 * Chart versions as the program can carry them to Helm: a released 1.16 to 1.20 version in plain
 * x.y.z form, whatever else Helm's index lookup would turn into another chart.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { type CiliumVersion, MAX_CILIUM_MINOR, MAX_CILIUM_PATCH, MIN_CILIUM_MINOR, parseCiliumVersion } from "../../encryption/ciliumVersion";

const minor = fc.integer({ min: MIN_CILIUM_MINOR, max: MAX_CILIUM_MINOR });
const patch = fc.integer({ min: 0, max: MAX_CILIUM_PATCH });
const suffix = fc.oneof(
  fc.stringMatching(/^-[0-9A-Za-z.-]{1,12}$/),
  fc.stringMatching(/^\+[0-9A-Za-z.-]{1,12}$/),
  fc.stringMatching(/^-[0-9A-Za-z]{1,6}\+[0-9A-Za-z]{1,6}$/),
);

describe("Cilium chart versions", () => {
  it("accepts every plain 1.<16-20>.<0-99>, with or without a v, and hands Helm the plain text (property)", () => {
    fc.assert(
      fc.property(minor, patch, fc.boolean(), (m, p, v) => {
        const parsed = parseCiliumVersion(`${v ? "v" : ""}1.${m}.${p}`) as CiliumVersion;
        assert.deepEqual(parsed, { major: 1, minor: m, patch: p, text: `1.${m}.${p}` });
      }),
    );
  });

  it("refuses a pre-release or build suffix on any supported version, saying what is allowed (property)", () => {
    fc.assert(
      fc.property(minor, patch, suffix, (m, p, s) => {
        const message = parseCiliumVersion(`1.${m}.${p}${s}`);
        assert.equal(typeof message, "string");
        assert.match(message as string, /^must be a released chart version without a pre-release \("-rc\.1"\) or build \("\+meta"\) suffix/);
        assert.match(message as string, /allowed: 1\.<minor>\.<patch> with minor 16 to 20 and patch 0 to 99, such as 1\.20\.2$/);
      }),
    );
  });

  it("refuses patches beyond 99 and numbers no release has, without losing digits", () => {
    for (const text of ["1.20.100", "1.18.99999999999999999999", `1.16.${Number.MAX_SAFE_INTEGER}1`]) {
      assert.match(parseCiliumVersion(text) as string, new RegExp(`^Cilium ${text.replace(/\./g, "\\.")} is not a release`), text);
    }
    for (const text of ["1.99999999999999999999.0", "99999999999999999999.18.0", "0.18.0", "2.0.0", "1.15.19", "1.21.0"]) {
      assert.match(parseCiliumVersion(text) as string, /is not supported; supported: 1\.16\.x to 1\.20\.x/, text);
    }
    assert.equal((parseCiliumVersion(`1.20.${MAX_CILIUM_PATCH}`) as CiliumVersion).patch, MAX_CILIUM_PATCH);
  });

  it("refuses what is not one exact version", () => {
    for (const text of [
      "",
      "1.20",
      "1.20.2.1",
      " 1.20.2",
      "1.20.2 ",
      "1.020.2",
      "01.20.2",
      "V1.20.2",
      "^1.20.2",
      "~1.20",
      "1.20.x",
      ">=1.18.0",
      "latest",
      "1.20.2\n",
    ]) {
      assert.match(parseCiliumVersion(text) as string, /^must be (an exact|a released) chart version/, JSON.stringify(text));
    }
  });

  it("names the version only as the caller shows it", () => {
    assert.equal(parseCiliumVersion("1.21.0", "(not shown)"), parseCiliumVersion("1.21.0")?.toString().replace("1.21.0", "(not shown)"));
    assert.ok(!(parseCiliumVersion("1.20.123", "(not shown)") as string).includes("123"));
  });
});
