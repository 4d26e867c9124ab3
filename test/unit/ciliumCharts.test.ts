/**
 * The value names and agent options the program knows, checked against Cilium's real chart of every
 * pinned version (toolchain/pins.env CILIUM_VERSIONS), from the Go module cache that CI fills with
 * `go mod download`.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { hostEnv, readLocalChart } from "../../config/files";
import {
  AGENT_CONFIG_DIR,
  AGENT_CONFIG_VOLUMES,
  AGENT_HOME,
  encryptionAgentOptions,
  IPSEC_KEY_DIR,
  renderedEncryptionTypes,
  splicedValues,
} from "../../encryption/chartRules";
import { type CiliumVersion, parseCiliumVersion } from "../../encryption/ciliumVersion";
import { type EncryptionValuesInput, encryptionValues, knownEncryptionKeys, leafPaths } from "../../encryption/helmValues";

const pins = readFileSync(join(__dirname, "../../toolchain/pins.env"), "utf8");
const pinned = /^CILIUM_VERSIONS="([^"]+)"/m.exec(pins)?.[1]?.split(/\s+/).filter(Boolean) ?? [];

function chartDir(version: string): string {
  const out = execFileSync("go", ["mod", "download", "-json", `github.com/cilium/cilium@v${version}`], { encoding: "utf8", cwd: "/" });
  const dir = (JSON.parse(out) as { Dir?: string; Error?: string }).Dir;
  if (dir === undefined) throw new Error(`go mod download gave no Dir for cilium ${version}: ${out}`);
  return join(dir, "install/kubernetes/cilium");
}

type Schema = { properties?: Record<string, Schema> };

/** Dotted paths of the schema's leaves (properties without properties of their own). */
function schemaLeaves(schema: Schema, prefix = ""): string[] {
  return Object.entries(schema.properties ?? {}).flatMap(([k, sub]) => {
    const path = prefix === "" ? k : `${prefix}.${k}`;
    return sub.properties === undefined ? [path] : schemaLeaves(sub, path);
  });
}

const ipsec: EncryptionValuesInput = { type: "ipsec", secretName: "cilium-ipsec-keys", keyFile: "keys", keyRotationDuration: "5m" };
const strictMode = { cidr: "10.0.0.0/8", allowRemoteNodeIdentities: false };
const settingsFor = (ver: CiliumVersion): EncryptionValuesInput[] => [
  ipsec,
  { type: "wireguard", nodeEncryption: true, persistentKeepalive: "25s" },
  { type: "wireguard", nodeEncryption: false, persistentKeepalive: "0s", strictMode },
  ...(ver.minor >= 19 ? [{ ...ipsec, strictMode }] : []),
];
/** Values outside `encryption` that the refusal rules read (encryption/chartRules.ts). */
const READ_VALUES = [
  "extraConfig",
  "extraArgs",
  "extraEnv",
  "hostFirewall.enabled",
  "ipam.mode",
  "routingMode",
  "gke.enabled",
  "eni.enabled",
  "azure.enabled",
  "l7Proxy",
  "cni.chainingMode",
  "cni.chainingTarget",
  "agent",
  "preflight.enabled",
  "sleepAfterInit",
  "daemon.configSources",
  "daemon.allowedConfigOverrides",
  "daemon.blockedConfigOverrides",
  "podAnnotations",
];

/**
 * Values a template writes with toYaml into a list or mapping without a key of their own (the line before
 * does not open a key at a smaller indent than the nindent), or, in a pod spec, ranges over to render one
 * list item each (a range inside a ConfigMap value renders text, such as the etcd endpoints).
 */
function splicedIn(template: string, ranges: boolean): Set<string> {
  const lines = template.split("\n");
  const out = new Set<string>();
  let withValue: string | undefined;
  lines.forEach((line, i) => {
    withValue = /\{\{-?\s*with\s+\.Values\.([\w.]+)/.exec(line)?.[1] ?? withValue;
    const ranged = /\{\{-?\s*range\s+(?:\$\w+\s*:=\s*)?\.Values\.([\w.]+)/.exec(line)?.[1];
    if (ranges && ranged !== undefined && /^\s*- /.test(lines[i + 1] ?? "")) out.add(ranged);
    const yaml = /toYaml\s+(?:\.Values\.([\w.]+)|\.)[\s|}]/.exec(line);
    if (yaml === null) return;
    const value = yaml[1] ?? withValue;
    const indent = Number(/nindent (\d+)/.exec(line)?.[1] ?? line.search(/\S/));
    let j = i - 1;
    while (j > 0 && /^\s*(\{\{|#|$)/.test(lines[j]!)) j--;
    const ownKey = lines[j]!.trimEnd().endsWith(":") && lines[j]!.search(/\S/) < indent;
    if (!ownKey && value !== undefined) out.add(value);
  });
  return out;
}

describe("Cilium's real charts", () => {
  it("every supported minor is pinned", () => {
    assert.deepEqual(
      pinned.map((p) => (parseCiliumVersion(p) as CiliumVersion).minor),
      [16, 17, 18, 19, 20],
    );
  });

  for (const pin of pinned) {
    describe(`cilium ${pin}`, () => {
      const dir = chartDir(pin);
      const ver = parseCiliumVersion(pin) as CiliumVersion;
      const schema = JSON.parse(readFileSync(join(dir, "values.schema.json"), "utf8")) as Schema;
      const leaves = new Set(schemaLeaves(schema));
      const configmap = readFileSync(join(dir, "templates/cilium-configmap.yaml"), "utf8");
      const daemonset = readFileSync(join(dir, "templates/cilium-agent/daemonset.yaml"), "utf8");
      const source = (path: string) => readFileSync(join(dir, "../../..", path), "utf8");

      it("the encryption keys we know are exactly the chart's (ztunnel aside)", () => {
        const chartKeys = [...leaves].filter((p) => p.startsWith("encryption.") && !p.startsWith("encryption.ztunnel.")).sort();
        assert.deepEqual([...knownEncryptionKeys(ver).keys()].sort(), chartKeys);
      });

      it("every value we emit is a value of the chart", () => {
        for (const enc of settingsFor(ver)) {
          for (const path of leafPaths(encryptionValues(ver, enc)).keys()) assert.ok(leaves.has(path), `${path} (${enc.type})`);
        }
      });

      it("the values the refusal rules read exist", () => {
        for (const path of READ_VALUES) assert.ok(leaves.has(path) || [...leaves].some((l) => l.startsWith(`${path}.`)), path);
        assert.match(configmap, /hasKey \.Values\.dnsProxy "enableTransparentMode"/);
      });

      it("the agent options refused in extraConfig/extraArgs/extraEnv are the ones the ConfigMap renders from encryption values", () => {
        const rendered = new Set([...configmap.matchAll(/^\s+([a-z0-9-]+): .*\.Values\.encryption\./gm)].map((m) => m[1]!));
        const ours = encryptionAgentOptions(ver);
        for (const option of rendered) assert.ok(ours.has(option), `${option} is rendered from encryption values but not refused`);
        const agentOnly = [...ours].filter((o) => !rendered.has(o)).sort();
        // The 1.19 chart renders the deprecated strict-mode values into the egress options, but its agent still reads the old ones.
        const expected =
          ver.minor === 19 ? ["enable-encryption-strict-mode", "encryption-strict-mode-allow-remote-node-identities", "encryption-strict-mode-cidr"] : [];
        assert.deepEqual(agentOnly, expected);
      });

      it("encryption.ipsec.interface is rendered up to 1.19 and ignored from 1.20", () => {
        assert.equal(/encrypt-interface: \{\{ \.Values\.encryption\.ipsec\.interface/.test(configmap), ver.minor <= 19);
      });

      it("the values whose shape is checked are exactly those the agent's pod and ConfigMap take in whole", () => {
        const spliced = new Set([...splicedIn(daemonset, true), ...splicedIn(configmap, false)]);
        assert.deepEqual([...spliced].sort(), [...splicedValues(ver).keys()].sort());
      });

      it("the encryption types the chart renders", () => {
        const types = new Set([...configmap.matchAll(/eq \.Values\.encryption\.type "([^"]+)"/g)].map((m) => m[1]!));
        assert.deepEqual([...types].sort(), [...renderedEncryptionTypes(ver)].sort());
      });

      it("what decides whether agents run and where their configuration comes from", () => {
        assert.match(daemonset, /^\{\{- if and \.Values\.agent \(not \.Values\.preflight\.enabled\) \}\}/);
        assert.match(configmap, /^\{\{- if and \( or \(\.Values\.agent\) .*\(not \.Values\.preflight\.enabled\) \}\}/);
        assert.match(daemonset, /\{\{- if \.Values\.sleepAfterInit \}\}\n\s+command:\n\s+- \/bin\/bash/);
        assert.ok(daemonset.includes(`- --config-dir=${AGENT_CONFIG_DIR}\n`));
        assert.match(daemonset, /cilium\.io\/cilium-configmap-checksum: .*\n/);
        for (const volume of AGENT_CONFIG_VOLUMES.slice(0, ver.minor >= 19 ? 2 : 1)) {
          assert.match(daemonset, new RegExp(`- name: ${volume}\\n\\s+mountPath: /tmp`), volume);
        }
        assert.match(daemonset, /- "--source=\{\{\.Values\.daemon\.configSources\}\}"/);
        assert.match(daemonset, /mountPath: \{\{ \.Values\.encryption\.ipsec\.mountPath \}\}/);
        assert.match(readFileSync(join(dir, "values.yaml"), "utf8"), new RegExp(`^  ipsec:\\n(?:    .*\\n)*?    mountPath: ${IPSEC_KEY_DIR}\\n`, "m"));
        const buildConfig = source("cilium-dbg/cmd/build-config.go");
        assert.ok(buildConfig.includes(`Dest:     "${AGENT_CONFIG_DIR}"`));
        assert.match(
          buildConfig,
          /Source: \[\]string\{\n\s+resolver\.KindConfigMap \+ ":cilium-config",\n\s+resolver\.KindNodeConfig \+ ":" \+ os\.Getenv\("CILIUM_K8S_NAMESPACE"\),\n\s+\}/,
        );
        const options = source("pkg/option/config.go");
        for (const [name, flag] of [
          ["ConfigFile", "config"],
          ["ConfigDir", "config-dir"],
          ["CMDRef", "cmdref"],
        ]) {
          assert.match(options, new RegExp(`\\t${name} = "${flag}"\\n`), flag);
          assert.match(source("daemon/cmd/daemon_main.go"), new RegExp(`option\\.BindEnv\\(vp, option\\.${name}\\)`), flag);
        }
        // The cmdref check returns before the configuration directory and file are read.
        assert.match(
          options,
          /if vp\.GetString\(CMDRef\) != "" \{\n\s+return\n\s+\}[\s\S]*ReadDirConfig\([\s\S]*vp\.AddConfigPath\("\$HOME"\)[\s\S]*vp\.ReadInConfig\(\)/,
        );
        assert.match(source("daemon/cmd/root.go"), /option\.InitConfig\(.*"cilium-agent", "cilium", h\.Viper\(\)\)/);
        assert.doesNotMatch(source("images/cilium/Dockerfile"), /^ENV HOME/m, `the agent's HOME is the runtime's default, ${AGENT_HOME}`);
      });

      it("reads the chart's own name and version from Chart.yaml", () => {
        assert.deepEqual(readLocalChart(hostEnv(), dir), { name: "cilium", version: pin });
      });
    });
  }
});
