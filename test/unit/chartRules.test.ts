/**
 * The rule for values beyond `encryption.*`: nothing may remove the agents, move where they take their
 * configuration from, or set an agent option the encryption values own by another route, in any shape;
 * ordinary values stay accepted.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  AGENT_CONFIG_DIR,
  AGENT_CONFIG_FILES,
  agentEnvName,
  agentValueProblems,
  encryptionAgentOptions,
  IPSEC_KEY_DIR,
  type Mode,
  renderedEncryptionTypes,
  splicedValues,
} from "../../encryption/chartRules";
import { type CiliumVersion, parseCiliumVersion } from "../../encryption/ciliumVersion";
import { type EncryptionValuesInput, encryptionValues, userValueProblems, type Values } from "../../encryption/helmValues";

const v = (text: string) => parseCiliumVersion(text) as CiliumVersion;
const version = fc.integer({ min: 16, max: 20 }).map((minor) => v(`1.${minor}.0`));
const mode = fc.constantFrom<Mode>("ipsec", "wireguard");
const problems = (user: Values, ver = v("1.20.2"), m: Mode = "ipsec") => agentValueProblems(ver, m, user, JSON.stringify);
const enc = (m: Mode): EncryptionValuesInput =>
  m === "ipsec"
    ? { type: "ipsec", secretName: "cilium-ipsec-keys", keyFile: "keys", keyRotationDuration: "5m" }
    : { type: "wireguard", nodeEncryption: true, persistentKeepalive: "0s" };
/** All checks on user values, as the program runs them. */
const allProblems = (ver: CiliumVersion, m: Mode, user: Values) => userValueProblems(ver, encryptionValues(ver, enc(m)), user);

/** Flips the case of the letters `mask` picks. */
const recase = (s: string, mask: number[]) => [...s].map((c, i) => ((mask[i % mask.length] ?? 0) % 2 === 1 ? c.toUpperCase() : c)).join("");

describe("the agents run", () => {
  it("agent must be true: false, null (Helm drops the default) or a string remove the DaemonSet", () => {
    for (const value of [false, null, "true", 1, {}])
      assert.match(problems({ agent: value }).join(), /^agent: set to .*; must be true or unset/, String(value));
    assert.deepEqual(problems({ agent: true }), []);
  });

  it("preflight.enabled and sleepAfterInit must be false", () => {
    assert.match(problems({ preflight: { enabled: true } }).join(), /^preflight\.enabled: set to true; must be false or unset/);
    assert.match(problems({ preflight: { enabled: "false" } }).join(), /^preflight\.enabled: set to "false"; must be false/);
    assert.match(problems({ preflight: true }).join(), /^preflight: must be an object of chart values, got a boolean/);
    assert.match(problems({ sleepAfterInit: true }).join(), /^sleepAfterInit: set to true; must be false or unset: .*sleep loop/);
    assert.deepEqual(problems({ preflight: { enabled: false, image: { tag: "x" } }, sleepAfterInit: false }), []);
  });
});

describe("where agents take their configuration from", () => {
  const nodeConfig = fc.oneof(
    fc.constant("cilium-node-config"),
    fc.stringMatching(/^[a-z0-9-]{0,20}$/).map((ns) => `cilium-node-config:${ns}`),
  );
  const defaults = fc
    .tuple(fc.constantFrom("config-map", "config-map:", "config-map:cilium-config"), fc.array(nodeConfig, { maxLength: 3 }))
    .map(([first, rest]) => [first, ...rest].join(","));

  it("the chart's default sources, in any of their spellings, are accepted (property)", () => {
    fc.assert(fc.property(defaults, (sources) => assert.deepEqual(problems({ daemon: { configSources: sources } }), [])));
  });

  it("any other first source or an added node source is refused (property)", () => {
    const other = fc
      .string({ minLength: 1 })
      .filter((s) => !["config-map", "config-map:", "config-map:cilium-config"].includes(s.split(",").filter(Boolean)[0] ?? "config-map"));
    fc.assert(
      fc.property(
        fc.oneof(
          other,
          defaults.map((d) => `${d},node`),
          defaults.map((d) => `${d},config-map:extra`),
        ),
        (sources) => {
          assert.match(
            problems({ daemon: { configSources: sources } }).join("\n"),
            /^daemon\.configSources: set to .*; allowed: unset, or "config-map:cilium-config"/,
          );
        },
      ),
    );
  });

  it("configSources and the override lists must be strings", () => {
    assert.match(problems({ daemon: { configSources: ["config-map:cilium-config"] } }).join(), /daemon\.configSources: set to/);
    assert.match(problems({ daemon: { blockedConfigOverrides: ["enable-ipsec"] } }).join(), /daemon\.blockedConfigOverrides: must be a comma-separated string/);
    assert.deepEqual(problems({ daemon: { allowedConfigOverrides: "none", blockedConfigOverrides: "enable-ipsec", runPath: "/var/run/cilium" } }), []);
  });

  it("tmpVolume must be an emptyDir from 1.19, where the chart reads it", () => {
    assert.match(problems({ tmpVolume: { hostPath: { path: "/srv" } } }).join(), /^tmpVolume: must be an emptyDir volume/);
    assert.deepEqual(problems({ tmpVolume: { emptyDir: { medium: "Memory", sizeLimit: "100Mi" } } }), []);
    assert.deepEqual(problems({ tmpVolume: {} }), []);
    assert.deepEqual(problems({ tmpVolume: "anything" }, v("1.18.11")), [], "1.18 has no tmpVolume: the chart ignores it");
  });

  it("flags and environment variables that move the configuration source are refused", () => {
    for (const [arg, message] of [
      ["--config-dir=/etc/other", /--config-dir replaces the ConfigMap/],
      ["--config=/root/x.yaml", /--config makes the agent read a configuration file that replaces/],
      ["--cmdref", /--cmdref makes the agent skip its configuration directory/],
    ] as const) {
      assert.match(problems({ extraArgs: ["--debug", arg] }).join(), new RegExp(`^extraArgs\\[1\\]: ${message.source}`));
    }
    for (const name of ["CILIUM_CONFIG_DIR", "CILIUM_CONFIG", "CILIUM_CMDREF", "CILIUM_SOURCE", "CILIUM_DEST", "CILIUM_K8S_NAMESPACE", "HOME"]) {
      assert.match(problems({ extraEnv: [{ name, value: "x" }] }).join(), new RegExp(`^extraEnv\\[0\\]: ${name} .*; remove it$`), name);
    }
  });

  it("an extra container must not mount the volumes that hold the configuration directory", () => {
    for (const list of ["extraContainers", "extraInitContainers"]) {
      for (const volume of ["tmp", "cilium-config-path"]) {
        assert.match(
          problems({
            [list]: [
              {
                name: "x",
                image: "busybox",
                volumeMounts: [
                  { name: "other", mountPath: "/a" },
                  { name: volume, mountPath: "/b" },
                ],
              },
            ],
          }).join(),
          new RegExp(`^${list}\\[0\\]\\.volumeMounts\\[1\\]\\.name: mounts the chart's volume ${volume}`),
        );
      }
      assert.deepEqual(problems({ [list]: [{ name: "x", image: "busybox", volumeMounts: [{ name: "bpf-maps", mountPath: "/sys/fs/bpf" }] }] }), []);
    }
  });

  it("the ConfigMap checksum annotation belongs to the chart", () => {
    assert.match(
      problems({ podAnnotations: { "cilium.io/cilium-configmap-checksum": "0" } }).join(),
      /^podAnnotations\.cilium\.io\/cilium-configmap-checksum: /,
    );
  });
});

describe("values the chart takes in whole have its shape", () => {
  const wrong: Record<string, fc.Arbitrary<unknown>> = {
    "list of strings": fc.oneof(fc.string(), fc.dictionary(fc.string(), fc.jsonValue()), fc.integer(), fc.boolean()),
    "list of objects": fc.oneof(fc.string(), fc.dictionary(fc.string(), fc.jsonValue()), fc.integer(), fc.boolean()),
    "object of strings": fc.oneof(fc.string(), fc.array(fc.jsonValue()), fc.integer(), fc.boolean()),
    object: fc.oneof(fc.string(), fc.array(fc.jsonValue()), fc.integer(), fc.boolean()),
  };

  it("any value of another kind is refused, naming the value and the shape (property)", () => {
    const misshapen = version.chain((ver) =>
      fc.constantFrom(...splicedValues(ver)).chain(([path, { shape }]) => wrong[shape]!.map((value) => ({ ver, path, shape, value }))),
    );
    fc.assert(
      fc.property(misshapen, ({ ver, path, shape, value }) => {
        const user = path.split(".").reduceRight<unknown>((inner, key) => ({ [key]: inner }), value) as Values;
        assert.match(problems(user, ver).join("\n"), new RegExp(`^${path.replace(".", "\\.")}: must be an? ${shape}: `, "m"));
      }),
    );
  });

  it("entries of another kind are refused, each by its index or key", () => {
    assert.match(problems({ extraArgs: ["--debug", 1] }).join(), /^extraArgs\[1\]: must be a string, as extraArgs is a list of strings/);
    assert.match(problems({ extraEnv: ["CILIUM_ENABLE_IPSEC=false"] }).join(), /^extraEnv\[0\]: must be an object, as extraEnv is a list of objects/);
    assert.match(problems({ extraEnv: [{ value: "x" }] }).join(), /^extraEnv\[0\]\.name: must be a string, the variable's name; got none/);
    assert.match(
      problems({ extraConfig: { "enable-foo": true } }).join(),
      /^extraConfig\.enable-foo: must be a string, as extraConfig is an object of strings/,
    );
    assert.match(problems({ extraVolumes: [[]] }).join(), /^extraVolumes\[0\]: must be an object/);
    assert.deepEqual(problems({ extraConfig: { "enable-foo": null }, extraArgs: null, podLabels: { team: "net" } }), []);
  });

  it("a parent that is not an object is refused once", () => {
    assert.deepEqual(problems({ daemon: "config-map:other" }), ["daemon: must be an object of chart values, got a string"]);
  });
});

describe("agent options the encryption values own, by every route", () => {
  const owned = (ver: CiliumVersion) => fc.constantFrom(...encryptionAgentOptions(ver));
  const cased = version.chain((ver) => fc.tuple(fc.constant(ver), owned(ver), fc.array(fc.nat(), { minLength: 1 })));

  it("any casing of an owned option in extraConfig is refused, as the agent lowercases ConfigMap keys (property)", () => {
    fc.assert(
      fc.property(cased, mode, fc.string(), ([ver, option, mask], m, value) => {
        const key = recase(option, mask);
        const found = problems({ extraConfig: { [key]: value } }, ver, m);
        assert.equal(found.length, 1, found.join("\n"));
        assert.ok(found[0]!.startsWith(`extraConfig.${key}: set to `), found[0]);
        assert.equal(found[0]!.includes(`reads the key as ${option}`), key !== option);
      }),
    );
  });

  it("underscores are another key to the agent (no flag reads it), so they pass", () => {
    assert.deepEqual(problems({ extraConfig: { enable_ipsec: "false" } }), []);
  });

  it("any spelling of an owned flag in extraArgs is refused (property)", () => {
    fc.assert(
      fc.property(cased, fc.constantFrom("-", "--"), fc.constantFrom("", "=false", "=true", "=/tmp/x"), ([ver, option, mask], dashes, tail) => {
        const arg = `${dashes}${recase(option, mask)}${tail}`;
        const found = problems({ extraArgs: ["--debug", arg] }, ver);
        assert.equal(found.length, 1, found.join("\n"));
        const exact = arg === `--${option}${tail}`;
        assert.match(
          found[0]!,
          exact
            ? new RegExp(`^extraArgs\\[1\\]: the agent flag --${option} overrides`)
            : /^extraArgs\[1\]: names the agent flag .* in a spelling the agent rejects/,
        );
      }),
    );
  });

  it("an owned option's environment variable is refused with a value or valueFrom (property)", () => {
    fc.assert(
      fc.property(
        version.chain((ver) => fc.tuple(fc.constant(ver), owned(ver))),
        fc.boolean(),
        ([ver, option], from) => {
          const entry = from
            ? { name: agentEnvName(option), valueFrom: { configMapKeyRef: { name: "x", key: "y" } } }
            : { name: agentEnvName(option), value: "false" };
          assert.match(
            problems({ extraEnv: [{ name: "TZ", value: "UTC" }, entry] }, ver).join(),
            new RegExp(`^extraEnv\\[1\\]: ${agentEnvName(option)} sets the agent option ${option} `),
          );
        },
      ),
    );
  });

  it("environment variable names are exact to the agent, so another casing passes", () => {
    assert.deepEqual(problems({ extraEnv: [{ name: "cilium_enable_ipsec", value: "false" }] }), []);
  });
});

describe("mounts over the configuration or the key", () => {
  const segment = fc.stringMatching(/^[a-z0-9_.-]{1,8}$/).filter((s) => s !== "." && s !== "..");
  /** The same path as the runtime sees it, written with redundant slashes and "." segments. */
  const noisy = (path: string, seed: number[]) =>
    path
      .split("/")
      .map((p, i) => (seed[i % seed.length]! % 3 === 0 ? `${p}/.` : seed[i % seed.length]! % 3 === 1 ? `${p}/` : p))
      .join("/");
  const guarded = (m: Mode) => [AGENT_CONFIG_DIR, ...AGENT_CONFIG_FILES, ...(m === "ipsec" ? [IPSEC_KEY_DIR] : [])];

  it("a mount at, above or inside a guarded path is refused, however it is written (property)", () => {
    fc.assert(
      fc.property(
        mode,
        fc.nat(),
        fc.constantFrom("at", "above", "inside"),
        fc.array(segment, { minLength: 1, maxLength: 3 }),
        fc.array(fc.nat(), { minLength: 1 }),
        fc.constantFrom("extraVolumeMounts", "extraHostPathMounts"),
        (m, pick, where, tail, seed, list) => {
          const candidates = guarded(m).filter((p) => where !== "inside" || !p.startsWith("/root/"));
          const target = candidates[pick % candidates.length]!;
          const parts = target.split("/");
          const path =
            where === "at" ? target : where === "above" ? parts.slice(0, 1 + (pick % (parts.length - 1))).join("/") || "/" : `${target}/${tail.join("/")}`;
          const found = problems(
            {
              [list]: [
                { name: "v", mountPath: "/var/lib/ok" },
                { name: "w", mountPath: noisy(path, seed) },
              ],
            },
            v("1.20.2"),
            m,
          );
          assert.equal(found.length, 1, `${path}: ${found.join("\n")}`);
          assert.match(found[0]!, new RegExp(`^${list}\\[1\\]\\.mountPath: at, above or inside /`));
        },
      ),
    );
  });

  it("a mount elsewhere is accepted (property)", () => {
    const elsewhere = fc
      .tuple(fc.constantFrom("/var/lib", "/opt", "/etc/pki", "/etc/ipsec-other", "/tmp/other", "/root/.kube", "/host"), fc.array(segment, { maxLength: 3 }))
      .map(([base, tail]) => [base, ...tail].join("/"));
    fc.assert(
      fc.property(mode, elsewhere, (m, path) => assert.deepEqual(problems({ extraVolumeMounts: [{ name: "x", mountPath: path }] }, v("1.20.2"), m), [])),
    );
  });

  it("the key directory is guarded only for IPsec, where the chart mounts it", () => {
    assert.match(problems({ extraVolumeMounts: [{ name: "k", mountPath: "/etc/ipsec/keys", subPath: "keys" }] }).join(), /the IPsec key the program manages/);
    assert.deepEqual(problems({ extraVolumeMounts: [{ name: "k", mountPath: "/etc/ipsec" }] }, v("1.20.2"), "wireguard"), []);
  });

  it("a relative or missing mount path is refused", () => {
    assert.match(
      problems({ extraVolumeMounts: [{ name: "x", mountPath: "tmp/cilium" }] }).join(),
      /^extraVolumeMounts\[0\]\.mountPath: must be an absolute path/,
    );
    assert.match(
      problems({ extraHostPathMounts: [{ name: "x", hostPath: "/srv" }] }).join(),
      /^extraHostPathMounts\[0\]\.mountPath: must be an absolute path \(a string\), got none/,
    );
  });
});

describe("encryption types", () => {
  it("the chart renders ztunnel from 1.19 on", () => {
    assert.deepEqual(renderedEncryptionTypes(v("1.18.11")), ["ipsec", "wireguard"]);
    assert.deepEqual(renderedEncryptionTypes(v("1.19.7")), ["ipsec", "wireguard", "ztunnel"]);
  });

  it("a type the chart does not render is refused as switching encryption off (property)", () => {
    fc.assert(
      fc.property(version, mode, fc.string(), (ver, m, type) => {
        fc.pre(!renderedEncryptionTypes(ver).includes(type));
        assert.match(allProblems(ver, m, { encryption: { type } }).join("\n"), /^encryption\.type: set to .*renders no encryption for this type at all/);
      }),
    );
    assert.match(allProblems(v("1.18.11"), "ipsec", { encryption: { type: "ztunnel" } }).join(), /Cilium 1\.18 chart renders no encryption for this type/);
    assert.match(allProblems(v("1.20.2"), "ipsec", { encryption: { type: "IPsec" } }).join(), /compares it exactly with ipsec, wireguard, ztunnel/);
  });
});

describe("ordinary values stay accepted", () => {
  const harmless = fc.constantFrom("hubble", "prometheus", "operator", "nodeSelector", "tolerations", "resources", "bpf", "envoy", "k8sServiceHost", "ipv6");

  it("any value under a key the rule does not govern passes, with either mode on every minor (property)", () => {
    fc.assert(
      fc.property(version, mode, fc.dictionary(harmless, fc.jsonValue({ maxDepth: 3 })), (ver, m, user) => assert.deepEqual(allProblems(ver, m, user), [])),
    );
  });

  it("values real clusters carry, the adopted release's among them", () => {
    const user: Values = {
      hubble: { relay: { enabled: true }, ui: { enabled: true }, metrics: { enabled: ["dns", "drop", "tcp"] }, tls: { server: { key: "not-shown" } } },
      nodeSelector: { "kubernetes.io/os": "linux" },
      ipam: { mode: "kubernetes" },
      agent: true,
      preflight: { enabled: false },
      daemon: { runPath: "/var/run/cilium", configSources: "config-map:cilium-config,cilium-node-config:kube-system" },
      extraArgs: ["--debug", "--enable-ipsec-xfrm-state-caching=true"],
      extraEnv: [
        { name: "GOMAXPROCS", value: "4" },
        { name: "KUBERNETES_SERVICE_HOST", valueFrom: { configMapKeyRef: { name: "api", key: "host" } } },
      ],
      extraConfig: { "enable-ipsec-xfrm-state-caching": "true", "node-encryption-opt-out-labels": "" },
      extraVolumes: [{ name: "certs", secret: { secretName: "certs" } }],
      extraVolumeMounts: [{ name: "certs", mountPath: "/var/lib/cilium/extra-certs", readOnly: true }],
      extraHostPathMounts: [{ name: "host-etc", mountPath: "/host/etc", hostPath: "/etc", readOnly: true }],
      extraInitContainers: [{ name: "wait", image: "busybox", command: ["true"] }],
      tmpVolume: { emptyDir: { medium: "Memory" } },
      podAnnotations: { "example.com/owner": "net" },
      podLabels: { team: "net" },
      commonLabels: { env: "prod" },
      rollOutCiliumPods: true,
    };
    for (const minor of [16, 17, 18, 19, 20])
      for (const m of ["ipsec", "wireguard"] as const) assert.deepEqual(allProblems(v(`1.${minor}.0`), m, user), [], `1.${minor} ${m}`);
  });
});

describe("a secret cilium config is not echoed", () => {
  it("messages name the key and what is allowed, never the value", () => {
    const hide = () => "(secret)";
    const user: Values = {
      agent: "s3cret-agent",
      daemon: { configSources: "config-map:s3cret-cm" },
      extraConfig: { "Enable-IPsec": "s3cret-v" },
      extraArgs: ["--enable-wireguard=s3cret-arg", "--config=/s3cret/file"],
      extraEnv: [{ name: "CILIUM_ENCRYPT_NODE", value: "s3cret-env" }],
      extraVolumeMounts: [{ name: "x", mountPath: "/tmp/cilium/s3cret/.." }],
    };
    const found = agentValueProblems(v("1.20.2"), "ipsec", user, hide);
    assert.equal(found.length, 7, found.join("\n"));
    for (const p of found) assert.ok(!p.includes("s3cret"), p);
  });
});
