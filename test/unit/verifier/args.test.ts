import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { ArgsError, DEFAULT_CONCURRENCY, parseFlags, parseVerifierArgs } from "../../../verifier/args";
import { DEFAULT_CAPTURE_IMAGE, DEFAULT_WORKLOAD_IMAGE, imageReferenceProblem } from "../../../verifier/images";

const base = ["--mode", "ipsec", "--namespace", "kube-system", "--cilium-version", "1.18.4"];

describe("parseVerifierArgs", () => {
  it("applies the documented defaults", () => {
    const a = parseVerifierArgs(base);
    assert.equal(a.mode, "ipsec");
    assert.equal(a.namespace, "kube-system");
    assert.deepEqual(a.ciliumVersion, { major: 1, minor: 18, patch: 4, text: "1.18.4" });
    assert.equal(a.timeoutSeconds, 600);
    assert.equal(a.wireCheck, true);
    assert.equal(a.nodeEncryption, null);
    assert.equal(a.strictMode, null);
    assert.equal(a.keyId, null);
    assert.equal(a.kubeconfig, null);
    assert.equal(a.context, null);
    assert.equal(a.workloadImage, DEFAULT_WORKLOAD_IMAGE);
    assert.equal(a.captureImage, DEFAULT_CAPTURE_IMAGE);
    assert.equal(a.concurrency, DEFAULT_CONCURRENCY);
    assert.equal(a.reportFile, null);
  });

  it('reads every flag, in "--flag value" and "--flag=value" forms', () => {
    const a = parseVerifierArgs([
      "--mode=wireguard",
      "--namespace",
      "cilium",
      "--cilium-version",
      "v1.20.2",
      "--kubeconfig",
      "/tmp/kc",
      "--context=kind-e2e",
      "--timeout",
      "90",
      "--wire-check",
      "off",
      "--node-encryption",
      "true",
      "--strict-mode=false",
      "--poll-interval",
      "0.5",
      "--workload-image",
      "mirror.example:5000/busybox:1",
      "--capture-image=mirror.example:5000/netshoot:1@sha256:a20c2531bf35436ed3766cd6cfe89d352b050ccc4d7005ce6400adf97503da1b",
      "--concurrency",
      "64",
      "--report-file=/tmp/r.json",
    ]);
    assert.equal(a.concurrency, 64);
    assert.equal(a.reportFile, "/tmp/r.json");
    assert.equal(a.mode, "wireguard");
    assert.equal(a.ciliumVersion.text, "1.20.2");
    assert.equal(a.kubeconfig, "/tmp/kc");
    assert.equal(a.context, "kind-e2e");
    assert.equal(a.timeoutSeconds, 90);
    assert.equal(a.wireCheck, false);
    assert.equal(a.nodeEncryption, true);
    assert.equal(a.strictMode, false);
    assert.equal(a.pollIntervalSeconds, 0.5);
    assert.equal(a.workloadImage, "mirror.example:5000/busybox:1");
    assert.equal(a.captureImage, "mirror.example:5000/netshoot:1@sha256:a20c2531bf35436ed3766cd6cfe89d352b050ccc4d7005ce6400adf97503da1b");
  });

  it("names the flag and the allowed values in every error", () => {
    const cases: Array<[string[], RegExp]> = [
      [["--namespace", "x", "--cilium-version", "1.18.0"], /--mode is required/],
      [[...base.slice(2), "--mode", "ipsec-gcm"], /--mode must be one of ipsec, wireguard; got "ipsec-gcm"/],
      [[...base, "--wire-check", "yes"], /--wire-check must be one of on, off; got "yes"/],
      [[...base, "--node-encryption", "1"], /--node-encryption must be one of true, false/],
      [[...base, "--strict-mode", "TRUE"], /--strict-mode must be one of true, false/],
      [[...base, "--timeout", "0"], /--timeout must be a number of seconds from 1 to 86400/],
      [[...base, "--timeout", "10m"], /--timeout must be a number of seconds/],
      [
        ["--mode", "ipsec", "--namespace", "kube-system", "--cilium-version", "1.15.3"],
        /--cilium-version: Cilium 1\.15\.3 is not supported; supported: 1\.16\.x to 1\.20\.x/,
      ],
      [["--mode", "ipsec", "--namespace", "kube-system", "--cilium-version", "latest"], /--cilium-version: must be an exact chart version/],
      [["--mode", "ipsec", "--namespace", "Kube_System", "--cilium-version", "1.18.0"], /--namespace must be a Kubernetes namespace name/],
      [[...base, "--stack", "dev"], /--stack is expanded before the flags are read/],
      [[...base, "extra"], /Unexpected argument 'extra'/],
      [[...base, "--mode", "ipsec"], /--mode given more than once/],
      [[...base, "--kubeconfig"], /Option '--kubeconfig <value>' argument missing/],
      [[...base, "--context", "--timeout", "3"], /Option '--context' argument is ambiguous/],
      [[...base, "--bogus"], /Unknown option '--bogus'/],
      [[...base, "--concurrency", "0"], /--concurrency must be a whole number from 1 to 256; got "0"/],
      [[...base, "--concurrency", "1.5"], /--concurrency must be a whole number from 1 to 256/],
      [[...base, "--report-file", ""], /--report-file needs a value/],
      [[...base, "--help"], /--help is not a verification flag/],
      [[...base, "--key-id", "0"], /--key-id must be a whole number from 1 to 15; got "0"/],
      [[...base, "--key-id", "16"], /--key-id must be a whole number from 1 to 15/],
      [[...base, "--key-id", "3+"], /--key-id must be a whole number from 1 to 15/],
      [["--mode", "wireguard", "--namespace", "kube-system", "--cilium-version", "1.20.2", "--key-id", "1"], /--key-id is for IPsec only/],
      [[...base, "--workload-image", "busybox:1.36.1"], /--workload-image must name its registry before the repository.*; got "busybox:1\.36\.1"/],
      [[...base, "--capture-image", "mirror/netshoot"], /--capture-image must name its registry \(a host with a "\." or a port, or localhost\)/],
      [
        [...base, "--capture-image", "r.example/netshoot@sha256:abc"],
        /--capture-image must be an image reference with its registry.*a digest must be sha256: and 64 lowercase hex digits/,
      ],
      [[...base, "--workload-image=-v"], /--workload-image must not start with "-"/],
      [[...base, "--workload-image", "r.example/Busybox"], /--workload-image must be an image reference with its registry/],
    ];
    for (const [argv, re] of cases) {
      assert.throws(
        () => parseVerifierArgs(argv),
        (e: unknown) => e instanceof ArgsError && re.test(e.message),
        argv.join(" "),
      );
    }
  });

  it("--key-id: the key ids Cilium accepts, 1 to 15 (linux_defaults.go IPsecMaxKeyVersion)", () => {
    for (const id of [1, 7, 15]) assert.equal(parseVerifierArgs([...base, "--key-id", String(id)]).keyId, id);
  });

  it("--help and -h are read by the flag parser, alone or among other flags", () => {
    for (const argv of [["--help"], ["-h"], [...base, "-h"]]) assert.equal(parseFlags(argv).help, true);
    assert.equal(parseFlags(base).help, undefined);
  });

  it("property: any other --mode value is refused naming the allowed ones", () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1 }).filter((s) => s !== "ipsec" && s !== "wireguard" && !s.startsWith("-")),
        (mode) => {
          assert.throws(
            () => parseVerifierArgs(["--mode", mode, "--namespace", "kube-system", "--cilium-version", "1.18.0"]),
            /--mode must be one of ipsec, wireguard/,
          );
        },
      ),
    );
  });

  it("the default images are pinned by digest and pass the check overrides must pass", () => {
    for (const image of [DEFAULT_WORKLOAD_IMAGE, DEFAULT_CAPTURE_IMAGE]) {
      assert.match(image, /^docker\.io\/[a-z/]+:[\w.]+@sha256:[a-f0-9]{64}$/);
      assert.equal(imageReferenceProblem(image), null);
    }
  });

  it("property: references with a registry, a repository path, an optional tag and an optional sha256 digest are accepted", () => {
    const label = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
    const component = fc.stringMatching(/^[a-z0-9]{1,6}([._-][a-z0-9]{1,6}){0,2}$/);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.constant("localhost"),
          fc.tuple(label, label).map(([a, b]) => `${a}.${b}`),
        ),
        fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
        fc.array(component, { minLength: 1, maxLength: 4 }),
        fc.option(fc.stringMatching(/^\w[\w.-]{0,20}$/), { nil: undefined }),
        fc.option(fc.stringMatching(/^[a-f0-9]{64}$/), { nil: undefined }),
        (host, port, path, tag, digest) => {
          const ref = `${host}${port === undefined ? "" : `:${port}`}/${path.join("/")}${tag === undefined ? "" : `:${tag}`}${digest === undefined ? "" : `@sha256:${digest}`}`;
          assert.equal(imageReferenceProblem(ref), null, ref);
        },
      ),
    );
  });

  it("property: anything with whitespace, a quote or a shell character is refused, and the reason never repeats it", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 30 }), fc.constantFrom(" ", "\n", "'", '"', ";", "$", "`", "|", "&", "\\"), (s, bad) => {
        const ref = `registry.example/${s}${bad}x`;
        const problem = imageReferenceProblem(ref);
        assert.notEqual(problem, null, ref);
        assert.ok(!problem!.includes(ref), problem!);
      }),
    );
  });
});
