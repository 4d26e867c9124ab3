/**
 * Every bad input is refused before anything is registered, with one message that names the key and
 * what is allowed. Each row runs the whole program under mocks.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { MAX_CONTEXT_BYTES, MAX_INLINE_KUBECONFIG_BYTES, parseSettings, VERIFIER_MAX_TIMEOUT_SECONDS } from "../../config/settings";
import { MAX_VALUES_BYTES } from "../../config/valueTree";
import { KeyLineError, parseKeyLine } from "../../encryption/keyLine";
import { parseVerifierArgs } from "../../verifier/args";
import { asPulumiConfig, runProgram, startProgram } from "./mockProgram";

const RELEASE = "kubernetes:helm.sh/v3:Release";
const COMMAND = "command:local:Command";

const dir = mkdtempSync(join(tmpdir(), "bad-inputs-"));
after(() => import("node:fs").then((fs) => fs.rmSync(dir, { recursive: true, force: true })));

/** One-file ustar archive, the layout `helm package` writes. */
function tgz(path: string, content: string): Buffer {
  const header = Buffer.alloc(512);
  header.write(path, 0);
  header.write("0000644\0", 100);
  header.write("0000000\0", 108);
  header.write("0000000\0", 116);
  header.write(`${Buffer.byteLength(content).toString(8).padStart(11, "0")}\0`, 124);
  header.write("00000000000\0", 136);
  header.write("0", 156);
  header.write("ustar\0", 257);
  header.write("00", 263);
  header.write("        ", 148);
  const sum = header.reduce((a, b) => a + b, 0);
  header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
  const body = Buffer.alloc(Math.ceil(Buffer.byteLength(content) / 512) * 512);
  body.write(content);
  return gzipSync(Buffer.concat([header, body, Buffer.alloc(1024)]));
}

const chart = (name: string, version: string) => `apiVersion: v2\nname: ${name}\nversion: ${version}\n`;
const paths = {
  missing: join(dir, "no-such-thing"),
  notAChart: join(dir, "empty-dir"),
  plainFile: join(dir, "notes.txt"),
  fakeTgz: join(dir, "fake.tgz"),
  otherChart: join(dir, "nginx"),
  cilium119: join(dir, "cilium-1.19.7"),
  cilium118Tgz: join(dir, "cilium-1.18.11.tgz"),
  kubeconfig: join(dir, "kubeconfig"),
};
mkdirSync(paths.notAChart);
writeFileSync(paths.plainFile, "not a chart\n");
writeFileSync(paths.fakeTgz, "not gzip");
mkdirSync(paths.otherChart);
writeFileSync(join(paths.otherChart, "Chart.yaml"), chart("nginx", "1.20.2"));
mkdirSync(paths.cilium119);
writeFileSync(join(paths.cilium119, "Chart.yaml"), chart("cilium", "1.19.7"));
writeFileSync(paths.cilium118Tgz, tgz("cilium/Chart.yaml", chart("cilium", "1.18.11")));
writeFileSync(paths.kubeconfig, "apiVersion: v1\nkind: Config\n");

const ipsec = (extra: Record<string, unknown> = {}) => ({ type: "ipsec", ipsec: { keyId: 1, ...extra } });
const wg = (extra: Record<string, unknown> = {}) => ({ type: "wireguard", wireguard: extra });
const onIpsec = (values: Record<string, unknown>, version = "1.20.2") => ({ encryption: ipsec(), cilium: { version, values } });
const onWg = (values: Record<string, unknown>, version = "1.20.2", wireguard: Record<string, unknown> = {}) => ({
  encryption: wg(wireguard),
  cilium: { version, values },
});

// what the program can carry: values `levels` objects deep, and a usable kubeconfig, padded to an exact size when asked
const nested = (levels: number): Record<string, unknown> => {
  let node: Record<string, unknown> = { x: 1 };
  for (let level = 1; level < levels; level++) node = { a: node };
  return node;
};
const KC_MARKER = "kc-token-x9q";
function kubeconfigOf(bytes?: number): string {
  const head =
    "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:6443'}\n" +
    `users:\n- name: u\n  user: {token: ${KC_MARKER}}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n`;
  return bytes === undefined ? head : `${head}# ${"a".repeat(bytes - head.length - 3)}\n`;
}

type Case = { name: string; config: Record<string, unknown>; message: RegExp; secret?: string[]; hidden?: string };
const c = (name: string, config: Record<string, unknown>, message: RegExp, more: Partial<Case> = {}): Case => ({ name, config, message, ...more });

const cases: Case[] = [
  // encryption
  c("no encryption section", {}, /cilium-encryption:encryption: must be an object with keys type, allowModeSwitch, ipsec, wireguard, it is missing/),
  c("type missing", { encryption: {} }, /cilium-encryption:encryption\.type: must be one of ipsec, wireguard, it is missing/),
  c("unknown type", { encryption: { type: "gre" } }, /cilium-encryption:encryption\.type: must be one of ipsec, wireguard, got "gre"/),
  c("type ztunnel", { encryption: { type: "ztunnel" } }, /cilium-encryption:encryption\.type: must be one of ipsec, wireguard, got "ztunnel"/),
  c("keyId 0", { encryption: ipsec({ keyId: 0 }) }, /encryption\.ipsec\.keyId: must be an integer from 1 to 15.*got 0/),
  c("keyId 16", { encryption: ipsec({ keyId: 16 }) }, /encryption\.ipsec\.keyId: must be an integer from 1 to 15.*got 16/),
  c("keyId 1.5", { encryption: ipsec({ keyId: 1.5 }) }, /encryption\.ipsec\.keyId: must be an integer from 1 to 15.*got 1\.5/),
  c("keyId a word", { encryption: ipsec({ keyId: "three" }) }, /encryption\.ipsec\.keyId: .*got "three"/),
  c("keyId missing", { encryption: { type: "ipsec" } }, /encryption\.ipsec\.keyId: is required when encryption\.type is ipsec/),
  c(
    "unknown algorithm",
    { encryption: ipsec({ algorithm: "aes-128-cbc" }) },
    /encryption\.ipsec\.algorithm: must be one of aes-128-gcm, aes-192-gcm, aes-256-gcm, got "aes-128-cbc"/,
  ),
  c("allowModeSwitch not a boolean", { encryption: { ...ipsec(), allowModeSwitch: "yes" } }, /encryption\.allowModeSwitch: must be true or false, got "yes"/),
  c(
    "a WireGuard option on ipsec",
    { encryption: { ...ipsec(), wireguard: { nodeEncryption: true } } },
    /encryption\.wireguard: is a WireGuard option, but encryption\.type is ipsec/,
  ),
  c(
    "an IPsec option on wireguard",
    { encryption: { type: "wireguard", ipsec: { keyId: 1 } } },
    /encryption\.ipsec: is an IPsec option, but encryption\.type is wireguard/,
  ),
  c(
    "keyRotationDuration in words",
    { encryption: ipsec({ keyRotationDuration: "5 minutes" }) },
    /encryption\.ipsec\.keyRotationDuration: must be a Go duration string such as "5m" or "90s", got "5 minutes"/,
  ),
  c(
    "keyRotationDuration 0s",
    { encryption: ipsec({ keyRotationDuration: "0s" }) },
    /encryption\.ipsec\.keyRotationDuration: must be longer than 0s: agents remove the previous key this long after a rotation/,
  ),
  c("keyRotationDuration 0", { encryption: ipsec({ keyRotationDuration: "0" }) }, /encryption\.ipsec\.keyRotationDuration: must be longer than 0s/),
  c(
    "keyRotationDuration beyond Go's range",
    { encryption: ipsec({ keyRotationDuration: "2562048h" }) },
    /encryption\.ipsec\.keyRotationDuration: is beyond Go's duration range \(at most 2562047h47m16\.854775807s\)/,
  ),
  c(
    "keyRotationDuration negative",
    { encryption: ipsec({ keyRotationDuration: "-5m" }) },
    /encryption\.ipsec\.keyRotationDuration: must be a Go duration string/,
  ),
  c(
    "persistentKeepalive above 65535s",
    { encryption: wg({ persistentKeepalive: "65536s" }) },
    /encryption\.wireguard\.persistentKeepalive: must be 0s \(off\) or a whole number of seconds up to 65535s/,
  ),
  c(
    "persistentKeepalive 19h",
    { encryption: wg({ persistentKeepalive: "19h" }) },
    /encryption\.wireguard\.persistentKeepalive: must be 0s \(off\) or a whole number of seconds up to 65535s/,
  ),
  c(
    "persistentKeepalive fractional",
    { encryption: wg({ persistentKeepalive: "1.5s" }) },
    /encryption\.wireguard\.persistentKeepalive: must be 0s \(off\) or a whole number of seconds/,
  ),
  c(
    "persistentKeepalive beyond Go's range",
    { encryption: wg({ persistentKeepalive: "9999999999h" }) },
    /encryption\.wireguard\.persistentKeepalive: is beyond Go's duration range/,
  ),
  c(
    "persistentKeepalive a number",
    { encryption: wg({ persistentKeepalive: 25 }) },
    /encryption\.wireguard\.persistentKeepalive: must be a Go duration string such as "5m" or "90s", got 25/,
  ),
  c("nodeEncryption a string", { encryption: wg({ nodeEncryption: "true" }) }, /encryption\.wireguard\.nodeEncryption: must be true or false, got "true"/),
  c(
    "unknown WireGuard key",
    { encryption: wg({ strict: true }) },
    /encryption\.wireguard\.strict: is not a known key; allowed here: nodeEncryption, persistentKeepalive, strictMode/,
  ),
  c(
    "strictMode.cidr without enabled",
    { encryption: wg({ strictMode: { cidr: "10.0.0.0/8" } }) },
    /encryption\.wireguard\.strictMode\.cidr: is set, but encryption\.wireguard\.strictMode\.enabled is not true, so strict mode stays off/,
  ),
  c(
    "strictMode options with enabled false",
    { encryption: wg({ strictMode: { enabled: false, allowRemoteNodeIdentities: true } }) },
    /encryption\.wireguard\.strictMode\.allowRemoteNodeIdentities: is set, but encryption\.wireguard\.strictMode\.enabled is not true/,
  ),
  c(
    "strictMode enabled without cidr",
    { encryption: wg({ strictMode: { enabled: true } }) },
    /encryption\.wireguard\.strictMode\.cidr: is required when strict mode is enabled/,
  ),
  c(
    "strictMode IPv6 cidr",
    { encryption: wg({ strictMode: { enabled: true, cidr: "fd00::/8" } }) },
    /encryption\.wireguard\.strictMode\.cidr: must be an IPv4 CIDR such as 10\.0\.0\.0\/8 \(strict mode protects IPv4 only\), got "fd00::\/8"/,
  ),
  c(
    "strictMode cidr /33",
    { encryption: wg({ strictMode: { enabled: true, cidr: "10.0.0.0/33" } }) },
    /encryption\.wireguard\.strictMode\.cidr: must be an IPv4 CIDR/,
  ),
  c(
    "strictMode cidr holding every node",
    { encryption: wg({ strictMode: { enabled: true, cidr: "0.0.0.0/0" } }) },
    /encryption\.wireguard\.strictMode\.cidr: "0\.0\.0\.0\/0" contains every node address; Cilium agents refuse to start/,
  ),
  c(
    "strictMode unknown key",
    { encryption: wg({ strictMode: { enabled: true, cidr: "10.0.0.0/8", egress: true } }) },
    /encryption\.wireguard\.strictMode\.egress: is not a known key; allowed here: enabled, cidr, allowRemoteNodeIdentities/,
  ),
  c(
    "IPsec strict mode before 1.19",
    { encryption: ipsec({ strictMode: { enabled: true, cidr: "10.0.0.0/8" } }), cilium: { version: "1.18.11" } },
    /encryption\.ipsec\.strictMode: needs Cilium 1\.19 or later \(before that, strict mode is WireGuard-only/,
  ),
  c(
    "IPsec strictMode.cidr without enabled",
    { encryption: ipsec({ strictMode: { cidr: "10.0.0.0/8" } }) },
    /encryption\.ipsec\.strictMode\.cidr: is set, but encryption\.ipsec\.strictMode\.enabled is not true/,
  ),
  // cilium
  c(
    "namespace not a DNS label",
    { encryption: ipsec(), cilium: { namespace: "Kube_System" } },
    /cilium\.namespace: must be a Kubernetes namespace name \(RFC 1123 label\), got "Kube_System"/,
  ),
  c("namespace too long", { encryption: ipsec(), cilium: { namespace: "n".repeat(64) } }, /cilium\.namespace: must be a Kubernetes namespace name/),
  c(
    "chart older than 1.16",
    { encryption: wg(), cilium: { version: "1.15.7" } },
    /cilium\.version: Cilium 1\.15\.7 is not supported; supported: 1\.16\.x to 1\.20\.x/,
  ),
  c("chart newer than 1.20", { encryption: wg(), cilium: { version: "1.21.0" } }, /cilium\.version: Cilium 1\.21\.0 is not supported/),
  c("chart version range", { encryption: wg(), cilium: { version: "^1.18" } }, /cilium\.version: must be an exact chart version/),
  c("chart version latest", { encryption: wg(), cilium: { version: "latest" } }, /cilium\.version: must be an exact chart version/),
  c(
    "plain http repository",
    { encryption: wg(), cilium: { chart: { repo: "http://helm.cilium.io" } } },
    /cilium\.chart\.repo: must be an https:\/\/ or oci:\/\/ URL of a chart repository \(plain http lets anyone on the path swap the chart\), got "http:\/\/helm\.cilium\.io"/,
  ),
  c(
    "ftp repository",
    { encryption: wg(), cilium: { chart: { repo: "ftp://mirror.example/charts" } } },
    /cilium\.chart\.repo: must be an https:\/\/ or oci:\/\/ URL/,
  ),
  c(
    "repository without scheme",
    { encryption: wg(), cilium: { chart: { repo: "helm.cilium.io" } } },
    /cilium\.chart\.repo: must be an https:\/\/ or oci:\/\/ URL/,
  ),
  c("file repository", { encryption: wg(), cilium: { chart: { repo: "file:///srv/charts" } } }, /cilium\.chart\.repo: must be an https:\/\/ or oci:\/\/ URL/),
  c(
    "chart name with a path",
    { encryption: wg(), cilium: { chart: { name: "../cilium" } } },
    /cilium\.chart\.name: must be a chart name \(lowercase letters, digits, "\.", "_", "-"\), got "\.\.\/cilium"/,
  ),
  c(
    "chart path and repo",
    { encryption: wg(), cilium: { version: "1.19.7", chart: { path: paths.cilium119, repo: "https://helm.cilium.io" } } },
    /cilium\.chart: set either path .* or repo and name, not both/,
  ),
  c(
    "chart path that does not exist",
    { encryption: wg(), cilium: { chart: { path: paths.missing } } },
    /cilium\.chart\.path: ".*no-such-thing" does not exist; must be a Cilium chart directory \(with Chart\.yaml\) or a packaged chart \(\.tgz\)/,
  ),
  c(
    "chart path without Chart.yaml",
    { encryption: wg(), cilium: { chart: { path: paths.notAChart } } },
    /cilium\.chart\.path: ".*empty-dir" is a directory without a Chart\.yaml, so not a Helm chart/,
  ),
  c(
    "chart path a plain file",
    { encryption: wg(), cilium: { chart: { path: paths.plainFile } } },
    /cilium\.chart\.path: ".*notes\.txt" is a file but not a packaged Helm chart/,
  ),
  c(
    "chart path a broken archive",
    { encryption: wg(), cilium: { chart: { path: paths.fakeTgz } } },
    /cilium\.chart\.path: ".*fake\.tgz" is a file but not a packaged Helm chart/,
  ),
  c(
    "chart path another chart",
    { encryption: wg(), cilium: { chart: { path: paths.otherChart } } },
    /cilium\.chart\.path: ".*nginx" is the chart "nginx", not Cilium's chart "cilium"/,
  ),
  c(
    "chart directory of another version",
    { encryption: wg(), cilium: { chart: { path: paths.cilium119 } } },
    /cilium\.chart\.path: the chart at ".*cilium-1\.19\.7" is version "1\.19\.7", but cilium\.version is 1\.20\.2; Helm installs a local chart as it is/,
  ),
  c(
    "packaged chart of another version",
    { encryption: wg(), cilium: { version: "1.18.6", chart: { path: paths.cilium118Tgz } } },
    /cilium\.chart\.path: the chart at ".*\.tgz" is version "1\.18\.11", but cilium\.version is 1\.18\.6/,
  ),
  c(
    "chart path like a flag",
    { encryption: wg(), cilium: { chart: { path: "--set=encryption.enabled=false" } } },
    /cilium\.chart\.path: must not start with "-" \(it would be read as a command-line flag\)/,
  ),
  c(
    "release name uppercase",
    { encryption: wg(), cilium: { releaseName: "Cilium" } },
    /cilium\.releaseName: must be a Helm release name: lowercase letters, digits and "-".*at most 53 characters, got "Cilium"/,
  ),
  c("release name too long", { encryption: wg(), cilium: { releaseName: "c".repeat(54) } }, /cilium\.releaseName: must be a Helm release name/),
  c("release name ends with -", { encryption: wg(), cilium: { releaseName: "cilium-" } }, /cilium\.releaseName: must be a Helm release name/),
  c("allowChartUpgrade a string", { encryption: wg(), cilium: { allowChartUpgrade: "yes" } }, /cilium\.allowChartUpgrade: must be true or false, got "yes"/),
  c(
    "values not an object",
    { encryption: wg(), cilium: { values: "encryption.enabled=false" } },
    /cilium\.values: must be an object of Helm values, got "encryption\.enabled=false"/,
  ),
  c(
    "values switch encryption off",
    onWg({ encryption: { enabled: false } }),
    /cilium\.values\.encryption\.enabled: set to false, but the encryption settings require encryption\.enabled = true/,
  ),
  c(
    "values switch the mode",
    onIpsec({ encryption: { type: "wireguard" } }),
    /cilium\.values\.encryption\.type: set to "wireguard", but the encryption settings require encryption\.type = "ipsec"/,
  ),
  c(
    "values rename the key Secret",
    onIpsec({ encryption: { ipsec: { secretName: "my-keys" } } }),
    /cilium\.values\.encryption\.ipsec\.secretName: set to "my-keys", but the encryption settings require encryption\.ipsec\.secretName = "cilium-ipsec-keys"/,
  ),
  c(
    "values change the key file",
    onIpsec({ encryption: { ipsec: { keyFile: "other" } } }),
    /cilium\.values\.encryption\.ipsec\.keyFile: set to "other", but the encryption settings require encryption\.ipsec\.keyFile = "keys"/,
  ),
  c(
    "values turn the key watcher off",
    onIpsec({ encryption: { ipsec: { keyWatcher: false } } }),
    /cilium\.values\.encryption\.ipsec\.keyWatcher: set to false, but .* = true/,
  ),
  c(
    "values stop the rollout",
    onIpsec({ rollOutCiliumPods: false }),
    /cilium\.values\.rollOutCiliumPods: set to false, but the encryption settings require rollOutCiliumPods = true/,
  ),
  c(
    "values move the key mount",
    onIpsec({ encryption: { ipsec: { mountPath: "/run/keys" } } }),
    /cilium\.values\.encryption\.ipsec\.mountPath: the program owns the key mount/,
  ),
  c(
    "ipsec.interface on 1.20",
    onIpsec({ encryption: { ipsec: { interface: "eth0" } } }),
    /cilium\.values\.encryption\.ipsec\.interface: has no effect from Cilium 1\.20/,
  ),
  c(
    "a typo in an encryption value",
    onIpsec({ encryption: { ipsec: { secretname: "x" } } }),
    /cilium\.values\.encryption\.ipsec\.secretname: not a value of the Cilium 1\.20 chart's encryption section/,
  ),
  c(
    "userspaceFallback on 1.17",
    onWg({ encryption: { wireguard: { userspaceFallback: true } } }, "1.17.16"),
    /cilium\.values\.encryption\.wireguard\.userspaceFallback: not a value of the Cilium 1\.17 chart/,
  ),
  c(
    "extraConfig enable-ipsec false",
    onIpsec({ extraConfig: { "enable-ipsec": "false" } }),
    /cilium\.values\.extraConfig\.enable-ipsec: set to "false", but this agent option is rendered from the encryption values/,
  ),
  c(
    "extraConfig enable-wireguard on ipsec",
    onIpsec({ extraConfig: { "enable-wireguard": "true" } }),
    /cilium\.values\.extraConfig\.enable-wireguard: set to "true", but this agent option is rendered from the encryption values/,
  ),
  c(
    "extraConfig ipsec-key-file",
    onIpsec({ extraConfig: { "ipsec-key-file": "/tmp/keys" } }),
    /cilium\.values\.extraConfig\.ipsec-key-file: set to "\/tmp\/keys", but this agent option/,
  ),
  c(
    "extraConfig encrypt-node",
    onWg({ extraConfig: { "encrypt-node": "true" } }),
    /cilium\.values\.extraConfig\.encrypt-node: set to "true", but this agent option/,
  ),
  c(
    "extraConfig strict egress on 1.19",
    onWg({ extraConfig: { "enable-encryption-strict-mode-egress": "true" } }, "1.19.7"),
    /cilium\.values\.extraConfig\.enable-encryption-strict-mode-egress: .*agent option is rendered from the encryption values/,
  ),
  c(
    "extraArgs --enable-ipsec=false",
    onIpsec({ extraArgs: ["--enable-ipsec=false"] }),
    /cilium\.values\.extraArgs\[0\]: the agent flag --enable-ipsec overrides the encryption values \(flags win over the ConfigMap\)/,
  ),
  c(
    "extraArgs --enable-wireguard",
    onIpsec({ extraArgs: ["--debug", "--enable-wireguard"] }),
    /cilium\.values\.extraArgs\[1\]: the agent flag --enable-wireguard overrides the encryption values/,
  ),
  c(
    "extraArgs --ipsec-key-file path",
    onIpsec({ extraArgs: ["--ipsec-key-file", "/tmp/k"] }),
    /cilium\.values\.extraArgs\[0\]: the agent flag --ipsec-key-file overrides the encryption values/,
  ),
  c(
    "extraArgs --config-dir",
    onIpsec({ extraArgs: ["--config-dir=/etc/other"] }),
    /cilium\.values\.extraArgs\[0\]: --config-dir replaces the ConfigMap the chart renders/,
  ),
  c(
    "extraEnv CILIUM_ENABLE_IPSEC",
    onIpsec({ extraEnv: [{ name: "CILIUM_ENABLE_IPSEC", value: "false" }] }),
    /cilium\.values\.extraEnv\[0\]: CILIUM_ENABLE_IPSEC sets the agent option enable-ipsec \(the environment wins over the ConfigMap\)/,
  ),
  c(
    "extraEnv CILIUM_ENCRYPT_NODE",
    onWg({
      extraEnv: [
        { name: "TZ", value: "UTC" },
        { name: "CILIUM_ENCRYPT_NODE", value: "false" },
      ],
    }),
    /cilium\.values\.extraEnv\[1\]: CILIUM_ENCRYPT_NODE sets the agent option encrypt-node/,
  ),
  c(
    "host firewall with IPsec",
    onIpsec({ hostFirewall: { enabled: true } }),
    /cilium\.values\.hostFirewall\.enabled: Cilium agents refuse to start with the host firewall and IPsec together/,
  ),
  c(
    "host firewall with IPsec through extraConfig",
    onIpsec({ extraConfig: { "enable-host-firewall": "true" } }, "1.16.19"),
    /cilium\.values\.extraConfig\.enable-host-firewall: Cilium agents refuse to start with the host firewall and IPsec/,
  ),
  c(
    "multi-pool IPAM with IPsec on 1.17",
    onIpsec({ ipam: { mode: "multi-pool" }, routingMode: "native" }, "1.17.16"),
    /cilium\.values\.ipam\.mode: Cilium 1\.17 agents refuse multi-pool IPAM with IPsec/,
  ),
  c(
    "multi-pool IPAM with IPsec on 1.18 native routing",
    onIpsec({ ipam: { mode: "multi-pool" }, routingMode: "native" }, "1.18.11"),
    /cilium\.values\.ipam\.mode: Cilium 1\.18 agents accept multi-pool IPAM with IPsec only in tunnel mode/,
  ),
  c(
    "IPsec without DNS proxy transparent mode",
    onIpsec({ dnsProxy: { enableTransparentMode: false } }),
    /cilium\.values\.dnsProxy\.enableTransparentMode: Cilium agents refuse IPsec with the L7 proxy unless the DNS proxy runs in transparent mode/,
  ),
  c(
    "IPsec under CNI chaining",
    onIpsec({ cni: { chainingMode: "aws-cni" } }, "1.18.11"),
    /cilium\.values\.dnsProxy\.enableTransparentMode: Cilium agents refuse IPsec with the L7 proxy/,
  ),
  c(
    "old and new strict-mode keys on 1.19",
    onWg({ encryption: { strictMode: { enabled: true, cidr: "10.0.0.0/8" } } }, "1.19.7", {
      strictMode: { enabled: true, cidr: "10.0.0.0/8", allowRemoteNodeIdentities: true },
    }),
    /cilium\.values\.encryption\.strictMode\.enabled: the pre-1\.19 strict-mode key; on Cilium 1\.19 the chart renders it into the same ConfigMap keys as encryption\.strictMode\.egress\.\*/,
  ),
  c(
    "strict mode through values",
    onWg({ encryption: { strictMode: { egress: { enabled: true, cidr: "10.0.0.0/8" } } } }),
    /cilium\.values\.encryption\.strictMode\.egress\.enabled: strict mode is set with the stack's encryption\.wireguard\.strictMode/,
  ),
  c(
    "strict ingress with IPsec",
    onIpsec({ encryption: { strictMode: { ingress: { enabled: true } } } }),
    /cilium\.values\.encryption\.strictMode\.ingress\.enabled: a wireguard option, but encryption\.type is ipsec/,
  ),
  c(
    "strict ingress without tunneling on 1.19",
    onWg({ routingMode: "native", encryption: { strictMode: { ingress: { enabled: true } } } }, "1.19.7"),
    /cilium\.values\.encryption\.strictMode\.ingress\.enabled: Cilium 1\.19 agents refuse strict ingress encryption without tunneling/,
  ),
  c(
    "a ztunnel option",
    onWg({ encryption: { ztunnel: { healthPort: 15021 } } }),
    /cilium\.values\.encryption\.ztunnel\.healthPort: a ztunnel option, but encryption\.type is wireguard/,
  ),
  // cluster
  c(
    "kubeconfig path that does not exist",
    { encryption: wg(), cluster: { kubeconfig: paths.missing } },
    /cluster\.kubeconfig: no such file: ".*no-such-thing"; must be the path of an existing kubeconfig file .* or the kubeconfig's contents/,
  ),
  c(
    "kubeconfig a directory",
    { encryption: wg(), cluster: { kubeconfig: dir } },
    /cluster\.kubeconfig: not a file: ".*"; must be the path of an existing kubeconfig file/,
  ),
  c(
    "kubeconfig like a flag",
    { encryption: wg(), cluster: { kubeconfig: "--insecure-skip-tls-verify" } },
    /cluster\.kubeconfig: must not start with "-" \(it would be read as a command-line flag\), got "--insecure-skip-tls-verify"/,
  ),
  c(
    "context like a flag",
    { encryption: wg(), cluster: { context: "--kubeconfig=/tmp/other" } },
    /cluster\.context: must not start with "-" \(it would be read as a command-line flag\), got "--kubeconfig=\/tmp\/other"/,
  ),
  c("context empty", { encryption: wg(), cluster: { context: "" } }, /cluster\.context: must not be empty/),
  c(
    "context with a line break",
    { encryption: wg(), cluster: { context: "prod\n--kubeconfig=/x" } },
    /cluster\.context: must be a kubeconfig context name \(no control characters\)/,
  ),
  c("unknown cluster key", { encryption: wg(), cluster: { token: "abc" } }, /cluster\.token: is not a known key; allowed here: kubeconfig, context/),
  c(
    "secret kubeconfig path that does not exist",
    { encryption: wg(), cluster: { kubeconfig: `${dir}/secret-path-x9q` } },
    /cluster\.kubeconfig: no such file: a value marked secret \(not shown\)/,
    {
      secret: ["cilium-encryption:cluster"],
      hidden: "secret-path-x9q",
    },
  ),
  c(
    "secret context like a flag",
    { encryption: wg(), cluster: { context: "-ctx-x9q" } },
    /cluster\.context: must not start with "-" \(it would be read as a command-line flag\), got a value marked secret \(not shown\)/,
    {
      secret: ["cilium-encryption:cluster"],
      hidden: "ctx-x9q",
    },
  ),
  c(
    "secret Helm value contradicting ours",
    onWg({ encryption: { enabled: "off-x9q" } }),
    /cilium\.values\.encryption\.enabled: set to a value marked secret \(not shown\), but the encryption settings require encryption\.enabled = true/,
    {
      secret: ["cilium-encryption:cilium"],
      hidden: "off-x9q",
    },
  ),
  c(
    "Helm value contradicting a secret encryption setting",
    {
      encryption: { type: "ipsec", ipsec: { keyId: 1, keyRotationDuration: "7m13s" } },
      cilium: { version: "1.20.2", values: { encryption: { ipsec: { keyRotationDuration: "5m" } } } },
    },
    /cilium\.values\.encryption\.ipsec\.keyRotationDuration: set to "5m", but the encryption settings require encryption\.ipsec\.keyRotationDuration = a value marked secret \(not shown\)/,
    { secret: ["cilium-encryption:encryption"], hidden: "7m13s" },
  ),
  // verification
  c(
    "timeout above the verifier's limit",
    { encryption: wg(), verification: { timeout: "25h" } },
    /verification\.timeout: must be from 1m to 24h \(86400s, the verifier's limit\).*got "25h"/,
  ),
  c("timeout 0s", { encryption: wg(), verification: { timeout: "0s" } }, /verification\.timeout: must be from 1m to 24h/),
  c(
    "timeout in words",
    { encryption: wg(), verification: { timeout: "10 minutes" } },
    /verification\.timeout: must be a Go duration string such as "5m" or "90s", got "10 minutes"/,
  ),
  c("timeout beyond Go's range", { encryption: wg(), verification: { timeout: "9999999h" } }, /verification\.timeout: is beyond Go's duration range/),
  c("verification.enabled a string", { encryption: wg(), verification: { enabled: "no" } }, /verification\.enabled: must be true or false, got "no"/),
  c("verification.wireCheck a number", { encryption: wg(), verification: { wireCheck: 1 } }, /verification\.wireCheck: must be true or false, got 1/),
  c(
    "unknown verification key",
    { encryption: wg(), verification: { retries: 3 } },
    /verification\.retries: is not a known key; allowed here: enabled, timeout, wireCheck/,
  ),
  c(
    "unknown top-level key",
    { encryption: wg(), encyption: { type: "ipsec" } },
    /cilium-encryption:encyption: is not a known key; allowed here: encryption, cilium, cluster, verification/,
  ),
  // verification images
  c(
    "image without a registry",
    { encryption: wg(), verification: { images: { workload: "busybox:1.36.1" } } },
    /cilium-encryption:verification\.images\.workload: must name its registry before the repository, e\.g\. "docker\.io\/library\/busybox:1\.36\.1" rather than "busybox:1\.36\.1", got "busybox:1\.36\.1"/,
  ),
  c(
    "image whose first path part is no registry host",
    { encryption: wg(), verification: { images: { capture: "mirror/netshoot:v0.13" } } },
    /cilium-encryption:verification\.images\.capture: must name its registry \(a host with a "\." or a port, or localhost\) before the repository.*got "mirror\/netshoot:v0\.13"/,
  ),
  c(
    "image starting with -",
    { encryption: wg(), verification: { images: { workload: "-oyaml" } } },
    /verification\.images\.workload: must not start with "-" \(it would be read as a command-line flag\), got "-oyaml"/,
  ),
  c(
    "image with a short digest",
    { encryption: wg(), verification: { images: { capture: "registry.example/netshoot@sha256:a20c2531" } } },
    /verification\.images\.capture: must be an image reference with its registry: <registry>\/<repository>\[:<tag>\]\[@sha256:<64 hex digits>\].*a digest must be sha256: and 64 lowercase hex digits, got "registry\.example\/netshoot@sha256:a20c2531"/,
  ),
  c(
    "image with an md5 digest",
    { encryption: wg(), verification: { images: { capture: `registry.example/netshoot@md5:${"a".repeat(32)}` } } },
    /verification\.images\.capture: must be an image reference with its registry.*a digest must be sha256: and 64 lowercase hex digits/,
  ),
  c(
    "image with an uppercase digest",
    { encryption: wg(), verification: { images: { capture: `registry.example/netshoot@sha256:${"A".repeat(64)}` } } },
    /verification\.images\.capture: must be an image reference with its registry.*a digest must be sha256: and 64 lowercase hex digits/,
  ),
  c(
    "image with an uppercase repository",
    { encryption: wg(), verification: { images: { workload: "registry.example/BusyBox:1.36.1" } } },
    /verification\.images\.workload: must be an image reference with its registry: <registry>\/<repository>\[:<tag>\]\[@sha256:<64 hex digits>\], e\.g\. "registry\.example\.com\/mirror\/busybox:1\.36\.1", got "registry\.example\/BusyBox:1\.36\.1"/,
  ),
  c(
    "image with a flag after a space",
    { encryption: wg(), verification: { images: { workload: "registry.example/busybox:1 --privileged" } } },
    /verification\.images\.workload: must be an image reference with its registry/,
  ),
  c(
    "image with a newline",
    { encryption: wg(), verification: { images: { capture: "registry.example/netshoot:v0.13\nimage: evil.example/x" } } },
    /verification\.images\.capture: must be an image reference with its registry/,
  ),
  c(
    "image with a command substitution",
    { encryption: wg(), verification: { images: { capture: "registry.example/netshoot:$(id)" } } },
    /verification\.images\.capture: must be an image reference with its registry/,
  ),
  c(
    "image tag of 129 characters",
    { encryption: wg(), verification: { images: { workload: `registry.example/busybox:${"t".repeat(129)}` } } },
    /verification\.images\.workload: must be an image reference with its registry/,
  ),
  c(
    "image repository path over 255 characters",
    { encryption: wg(), verification: { images: { workload: `registry.example/${"a/".repeat(127)}busybox:1` } } },
    /verification\.images\.workload: has a repository path longer than 255 characters/,
  ),
  c(
    "image empty",
    { encryption: wg(), verification: { images: { workload: "" } } },
    /verification\.images\.workload: must be an image reference with its registry/,
  ),
  c(
    "image a number",
    { encryption: wg(), verification: { images: { capture: 42 } } },
    /verification\.images\.capture: must be an image reference with its registry: .*, got 42/,
  ),
  c(
    "images a string",
    { encryption: wg(), verification: { images: "registry.example/busybox:1.36.1" } },
    /verification\.images: must be an object with keys workload, capture, got "registry\.example\/busybox:1\.36\.1"/,
  ),
  c(
    "images a list",
    { encryption: wg(), verification: { images: ["registry.example/busybox:1.36.1"] } },
    /verification\.images: must be an object with keys workload, capture/,
  ),
  c(
    "unknown image key",
    { encryption: wg(), verification: { images: { agent: "registry.example/cilium:v1" } } },
    /verification\.images\.agent: is not a known key; allowed here: workload, capture/,
  ),
  c(
    "secret image without a registry",
    { encryption: wg(), verification: { images: { workload: "busybox-x7q2:1" } } },
    /verification\.images\.workload: must name its registry before the repository.*, got a value marked secret \(not shown\)/,
    { secret: ["cilium-encryption:verification"], hidden: "busybox-x7q2" },
  ),
  // values that take encryption away (chart templates and agent config loader per minor)
  c(
    "values remove the agent DaemonSet",
    onIpsec({ agent: false }),
    /cilium\.values\.agent: set to false; must be true or unset: the chart renders the Cilium agent DaemonSet only when agent is true/,
  ),
  c("values drop the agent default with null", onWg({ agent: null }, "1.16.19"), /cilium\.values\.agent: set to null; must be true or unset/),
  c("values set agent to a string", onWg({ agent: "true" }, "1.18.11"), /cilium\.values\.agent: set to "true"; must be true or unset/),
  c(
    "values turn the pre-flight check on",
    onIpsec({ preflight: { enabled: true } }, "1.17.16"),
    /cilium\.values\.preflight\.enabled: set to true; must be false or unset: with it the chart renders the pre-flight check instead of the agent DaemonSet and its ConfigMap/,
  ),
  c("values replace preflight with a boolean", onWg({ preflight: true }), /cilium\.values\.preflight: must be an object of chart values, got a boolean/),
  c(
    "values put the agents to sleep",
    onWg({ sleepAfterInit: true }, "1.19.7"),
    /cilium\.values\.sleepAfterInit: set to true; must be false or unset: with it the agent pods run a sleep loop instead of cilium-agent/,
  ),
  c(
    "values point the agents at another ConfigMap",
    onIpsec({ daemon: { configSources: "config-map:my-config" } }),
    /cilium\.values\.daemon\.configSources: set to "config-map:my-config"; allowed: unset, or "config-map:cilium-config" optionally followed by "cilium-node-config\[:<namespace>\]" entries/,
  ),
  c(
    "values let node annotations override the agents' configuration",
    onWg({ daemon: { configSources: "config-map:cilium-config,node" } }, "1.16.19"),
    /cilium\.values\.daemon\.configSources: set to "config-map:cilium-config,node"; allowed: unset/,
  ),
  c(
    "values read the ConfigMap of another namespace",
    onIpsec({ daemon: { configSources: "config-map:other/cilium-config" } }, "1.18.11"),
    /cilium\.values\.daemon\.configSources: set to "config-map:other\/cilium-config"; allowed/,
  ),
  c(
    "secret values point the agents elsewhere",
    onIpsec({ daemon: { configSources: "config-map:team-x7q2" } }),
    /cilium\.values\.daemon\.configSources: set to a value marked secret \(not shown\); allowed: unset/,
    { secret: ["cilium-encryption:cilium"], hidden: "team-x7q2" },
  ),
  c("values replace daemon with a string", onWg({ daemon: "config-map:mine" }), /cilium\.values\.daemon: must be an object of chart values, got a string/),
  c(
    "values keep the configuration directory on a host path",
    onIpsec({ tmpVolume: { hostPath: { path: "/srv/cilium-tmp" } } }, "1.19.7"),
    /cilium\.values\.tmpVolume: must be an emptyDir volume \(\{emptyDir: \{\.\.\.\}\}\) or unset: it holds the agent's configuration directory/,
  ),
  c(
    "extraArgs a string",
    onIpsec({ extraArgs: "--enable-ipsec=false" }),
    /cilium\.values\.extraArgs: must be a list of strings: the chart writes it as it is into the cilium-agent container's arguments.*; got a string/,
  ),
  c(
    "extraArgs an object that becomes container fields",
    onWg({ extraArgs: { command: ["sleep", "infinity"] } }),
    /cilium\.values\.extraArgs: must be a list of strings: .*; got an object/,
  ),
  c("extraArgs with a number", onWg({ extraArgs: ["--debug", 1] }), /cilium\.values\.extraArgs\[1\]: must be a string, as extraArgs is a list of strings/),
  c(
    "extraArgs --config",
    onIpsec({ extraArgs: ["--config=/root/cilium.yaml"] }),
    /cilium\.values\.extraArgs\[0\]: --config makes the agent read a configuration file that replaces its whole ConfigMap configuration/,
  ),
  c(
    "extraArgs --cmdref",
    onWg({ extraArgs: ["--cmdref", "/tmp/x"] }, "1.16.19"),
    /cilium\.values\.extraArgs\[0\]: --cmdref makes the agent skip its configuration directory, so it runs on its defaults, without encryption/,
  ),
  c(
    "extraArgs an owned flag in capitals",
    onIpsec({ extraArgs: ["--ENABLE-IPSEC=false"] }),
    /cilium\.values\.extraArgs\[0\]: names the agent flag --enable-ipsec in a spelling the agent rejects \(its flag names are exact\)/,
  ),
  c(
    "extraArgs an owned flag with one dash",
    onWg({ extraArgs: ["-enable-wireguard=false"] }),
    /cilium\.values\.extraArgs\[0\]: names the agent flag --enable-wireguard in a spelling the agent rejects/,
  ),
  c(
    "extraEnv an object",
    onIpsec({ extraEnv: { CILIUM_ENABLE_IPSEC: "false" } }),
    /cilium\.values\.extraEnv: must be a list of objects: the chart writes it as it is into the environment of the agent and its init containers.*; got an object/,
  ),
  c(
    "extraEnv entry a string",
    onWg({ extraEnv: ["CILIUM_ENABLE_WIREGUARD=false"] }),
    /cilium\.values\.extraEnv\[0\]: must be an object, as extraEnv is a list of objects/,
  ),
  c(
    "extraEnv entry without a name",
    onWg({ extraEnv: [{ value: "false" }] }),
    /cilium\.values\.extraEnv\[0\]\.name: must be a string, the variable's name; got none/,
  ),
  c(
    "extraEnv an owned option from a ConfigMap",
    onWg({ extraEnv: [{ name: "CILIUM_ENABLE_WIREGUARD", valueFrom: { configMapKeyRef: { name: "overrides", key: "wg" } } }] }),
    /cilium\.values\.extraEnv\[0\]: CILIUM_ENABLE_WIREGUARD sets the agent option enable-wireguard \(the environment wins over the ConfigMap\)/,
  ),
  c(
    "extraEnv CILIUM_CONFIG",
    onIpsec({ extraEnv: [{ name: "CILIUM_CONFIG", value: "/root/override.yaml" }] }),
    /cilium\.values\.extraEnv\[0\]: CILIUM_CONFIG is the agent's --config, which makes the agent read a configuration file that replaces/,
  ),
  c(
    "extraEnv CILIUM_CMDREF",
    onWg({ extraEnv: [{ name: "CILIUM_CMDREF", value: "/tmp" }] }, "1.17.16"),
    /cilium\.values\.extraEnv\[0\]: CILIUM_CMDREF is the agent's --cmdref, which makes the agent skip its configuration directory/,
  ),
  c(
    "extraEnv CILIUM_SOURCE",
    onIpsec({ extraEnv: [{ name: "CILIUM_SOURCE", value: "config-map:mine" }] }),
    /cilium\.values\.extraEnv\[0\]: CILIUM_SOURCE is --source of the init container that builds the agent's configuration \(cilium-dbg build-config\)/,
  ),
  c(
    "extraEnv CILIUM_K8S_NAMESPACE",
    onIpsec({ extraEnv: [{ name: "CILIUM_K8S_NAMESPACE", value: "elsewhere" }] }, "1.18.11"),
    /cilium\.values\.extraEnv\[0\]: CILIUM_K8S_NAMESPACE is the namespace the init container that builds the agent's configuration reads the ConfigMap cilium-config from/,
  ),
  c(
    "extraEnv HOME",
    onWg({ extraEnv: [{ name: "HOME", value: "/tmp/cilium/config-map" }] }),
    /cilium\.values\.extraEnv\[0\]: HOME decides where the agent looks for its configuration file cilium\.<ext>/,
  ),
  c(
    "extraConfig an owned option in mixed case",
    onIpsec({ extraConfig: { "Enable-IPsec": "false" } }),
    /cilium\.values\.extraConfig\.Enable-IPsec: set to "false", but this agent option is rendered from the encryption values \(the agent reads the key as enable-ipsec: it lowercases the keys of its ConfigMap\)/,
  ),
  c(
    "extraConfig an owned option in capitals, secret",
    onWg({ extraConfig: { "ENCRYPT-NODE": "false-x7q2" } }, "1.19.7"),
    /cilium\.values\.extraConfig\.ENCRYPT-NODE: set to a value marked secret \(not shown\), but this agent option is rendered from the encryption values \(the agent reads the key as encrypt-node/,
    { secret: ["cilium-encryption:cilium"], hidden: "false-x7q2" },
  ),
  c(
    "extraConfig a list",
    onIpsec({ extraConfig: ["enable-ipsec: false"] }),
    /cilium\.values\.extraConfig: must be an object of strings: the chart writes it as it is into the data of the ConfigMap cilium-config.*; got a list/,
  ),
  c(
    "extraConfig a boolean value",
    onWg({ extraConfig: { "enable-l7-proxy": false } }),
    /cilium\.values\.extraConfig\.enable-l7-proxy: must be a string, as extraConfig is an object of strings/,
  ),
  c(
    "a mount over the configuration directory",
    onIpsec({ extraVolumes: [{ name: "cfg", configMap: { name: "mine" } }], extraVolumeMounts: [{ name: "cfg", mountPath: "/tmp/cilium/config-map" }] }),
    /cilium\.values\.extraVolumeMounts\[0\]\.mountPath: at, above or inside \/tmp\/cilium\/config-map, the agent's configuration directory, so the volume would shadow or replace it/,
  ),
  c(
    "a mount above the configuration directory",
    onWg({ extraVolumeMounts: [{ name: "cache", mountPath: "/tmp/cilium/" }] }, "1.16.19"),
    /cilium\.values\.extraVolumeMounts\[0\]\.mountPath: at, above or inside \/tmp\/cilium\/config-map/,
  ),
  c(
    "a mount over one option's file",
    onIpsec({ extraVolumeMounts: [{ name: "cfg", mountPath: "/tmp//cilium/./config-map/enable-ipsec", subPath: "off" }] }),
    /cilium\.values\.extraVolumeMounts\[0\]\.mountPath: at, above or inside \/tmp\/cilium\/config-map/,
  ),
  c(
    "a mount over the IPsec key",
    onIpsec({ extraVolumeMounts: [{ name: "mykey", mountPath: "/etc/ipsec/keys", subPath: "keys" }] }),
    /cilium\.values\.extraVolumeMounts\[0\]\.mountPath: at, above or inside \/etc\/ipsec, the IPsec key the program manages/,
  ),
  c(
    "a mount of a configuration file in the agent's home",
    onWg({ extraVolumeMounts: [{ name: "cfg", mountPath: "/root/cilium.yaml", subPath: "cilium.yaml" }] }),
    /cilium\.values\.extraVolumeMounts\[0\]\.mountPath: at, above or inside \/root\/cilium\.yaml, a configuration file the agent reads over its ConfigMap/,
  ),
  c(
    "a host path mounted over the configuration directory",
    onIpsec({ extraHostPathMounts: [{ name: "host-cfg", mountPath: "/tmp/cilium/config-map", hostPath: "/etc/cilium" }] }, "1.18.11"),
    /cilium\.values\.extraHostPathMounts\[0\]\.mountPath: at, above or inside \/tmp\/cilium\/config-map/,
  ),
  c(
    "a relative mount path",
    onWg({ extraVolumeMounts: [{ name: "x", mountPath: "tmp/cilium" }] }),
    /cilium\.values\.extraVolumeMounts\[0\]\.mountPath: must be an absolute path/,
  ),
  c(
    "extraVolumes an object that becomes pod fields",
    onIpsec({ extraVolumes: { hostNetwork: false } }),
    /cilium\.values\.extraVolumes: must be a list of objects: the chart writes it as it is into the agent pod's volumes/,
  ),
  c(
    "extraInitContainers an object that replaces the containers",
    onWg({ extraInitContainers: { containers: [{ name: "cilium-agent", image: "busybox" }] } }),
    /cilium\.values\.extraInitContainers: must be a list of objects: the chart writes it as it is into the agent pod's init containers/,
  ),
  c(
    "an extra init container that rewrites the configuration directory",
    onIpsec({ extraInitContainers: [{ name: "patch", image: "busybox", volumeMounts: [{ name: "tmp", mountPath: "/work" }] }] }),
    /cilium\.values\.extraInitContainers\[0\]\.volumeMounts\[0\]\.name: mounts the chart's volume tmp, which holds the agent's configuration directory/,
  ),
  c(
    "podAnnotations take the ConfigMap checksum",
    onWg({ podAnnotations: { "cilium.io/cilium-configmap-checksum": "pinned" } }),
    /cilium\.values\.podAnnotations\.cilium\.io\/cilium-configmap-checksum: replaces the annotation the chart sets to the ConfigMap's checksum \(rollOutCiliumPods\), so agents would not restart/,
  ),
  c(
    "encryption.type in another case",
    onIpsec({ encryption: { type: "IPsec" } }),
    /cilium\.values\.encryption\.type: set to "IPsec", but the encryption settings require encryption\.type = "ipsec", and the Cilium 1\.20 chart renders no encryption for this type at all \(cilium-configmap\.yaml compares it exactly with ipsec, wireguard, ztunnel\)/,
  ),
  c(
    "encryption.type ztunnel on 1.18",
    onWg({ encryption: { type: "ztunnel" } }, "1.18.11"),
    /cilium\.values\.encryption\.type: set to "ztunnel", .*the Cilium 1\.18 chart renders no encryption for this type at all \(cilium-configmap\.yaml compares it exactly with ipsec, wireguard\)/,
  ),
  c(
    "encryption.type a list, secret",
    onIpsec({ encryption: { type: ["ipsec-x7q2"] } }),
    /cilium\.values\.encryption\.type: set to a value marked secret \(not shown\), .*renders no encryption for this type at all/,
    { secret: ["cilium-encryption:cilium"], hidden: "x7q2" },
  ),
  // what the program can carry (versions, durations, sizes, depth, prototype keys)
  c(
    "version with a release-candidate suffix",
    { encryption: wg(), cilium: { version: "1.20.0-rc.1" } },
    /cilium\.version: must be a released chart version without a pre-release \("-rc\.1"\) or build \("\+meta"\) suffix: Helm resolves a suffixed version to another chart than it names, or to a release candidate; allowed: 1\.<minor>\.<patch> with minor 16 to 20 and patch 0 to 99, such as 1\.20\.2/,
  ),
  c(
    "version with build metadata",
    { encryption: wg(), cilium: { version: "1.20.2+build.7" } },
    /cilium\.version: must be a released chart version without a pre-release/,
  ),
  c("version with both suffixes", { encryption: wg(), cilium: { version: "1.19.7-pre.1+g1234" } }, /cilium\.version: must be a released chart version without/),
  c(
    "version with a v and a suffix",
    { encryption: wg(), cilium: { version: "v1.18.11-snapshot.0" } },
    /cilium\.version: must be a released chart version without/,
  ),
  c(
    "version with patch 100",
    { encryption: wg(), cilium: { version: "1.20.100" } },
    /cilium\.version: Cilium 1\.20\.100 is not a release: no supported minor has come near patch 99; allowed: 1\.<minor>\.<patch> with minor 16 to 20 and patch 0 to 99/,
  ),
  c(
    "version with a 20-digit patch",
    { encryption: wg(), cilium: { version: "1.18.99999999999999999999" } },
    /cilium\.version: Cilium 1\.18\.99999999999999999999 is not a release/,
  ),
  c(
    "version with a 20-digit minor",
    { encryption: wg(), cilium: { version: "1.99999999999999999999.0" } },
    /cilium\.version: Cilium 1\.99999999999999999999\.0 is not supported; supported: 1\.16\.x to 1\.20\.x; allowed: 1\.<minor>\.<patch>/,
  ),
  c(
    "version with a leading zero",
    { encryption: wg(), cilium: { version: "1.018.1" } },
    /cilium\.version: must be an exact chart version such as 1\.18\.6 \(pinned, no ranges\), supported: 1\.16\.x to 1\.20\.x; allowed: 1\.<minor>\.<patch>/,
  ),
  c("version with four numbers", { encryption: wg(), cilium: { version: "1.20.2.1" } }, /cilium\.version: must be an exact chart version/),
  c("version with a trailing line break", { encryption: wg(), cilium: { version: "1.20.2\n" } }, /cilium\.version: must be an exact chart version/),
  c(
    "secret version not supported",
    { encryption: wg(), cilium: { version: "1.21.9" } },
    /cilium\.version: Cilium \(version not shown: a value marked secret\) is not supported; supported: 1\.16\.x to 1\.20\.x/,
    { secret: ["cilium-encryption:cilium"], hidden: "1.21.9" },
  ),
  c(
    "keyRotationDuration 1ns",
    { encryption: ipsec({ keyRotationDuration: "1ns" }) },
    /encryption\.ipsec\.keyRotationDuration: must be at least 1s: agents remove the previous key at the first run of their once-a-minute stale-key reclaimer that finds it replaced this long ago \(cilium v1\.20\.2 pkg\/datapath\/linux\/ipsec\/ipsec_linux\.go ipSecSPICanBeReclaimed\), so a value under a second is 0s in all but name.*got "1ns"/,
  ),
  c(
    "keyRotationDuration 999ms",
    { encryption: ipsec({ keyRotationDuration: "999ms" }) },
    /encryption\.ipsec\.keyRotationDuration: must be at least 1s: .*got "999ms"/,
  ),
  c(
    "keyRotationDuration .5s",
    { encryption: ipsec({ keyRotationDuration: ".5s" }) },
    /encryption\.ipsec\.keyRotationDuration: must be at least 1s: .*got "\.5s"/,
  ),
  c(
    "keyRotationDuration a nanosecond short of 1s",
    { encryption: ipsec({ keyRotationDuration: "999999999ns" }) },
    /encryption\.ipsec\.keyRotationDuration: must be at least 1s: .*got "999999999ns"/,
  ),
  c(
    "persistentKeepalive 1ns",
    { encryption: wg({ persistentKeepalive: "1ns" }) },
    /encryption\.wireguard\.persistentKeepalive: must be 0s \(off\) or a whole number of seconds up to 65535s.*got "1ns"/,
  ),
  c(
    "persistentKeepalive 500ms",
    { encryption: wg({ persistentKeepalive: "500ms" }) },
    /encryption\.wireguard\.persistentKeepalive: must be 0s \(off\) or a whole number/,
  ),
  c(
    "timeout 1ns",
    { encryption: wg(), verification: { timeout: "1ns" } },
    /verification\.timeout: must be from 1m to 24h \(86400s, the verifier's limit\): below a minute, one of the verifier's kubectl calls \(60s each at most\) or Helm's wait for the agents' rollout, which shares this timeout, uses it all up, got "1ns"/,
  ),
  c("timeout 59s", { encryption: wg(), verification: { timeout: "59s" } }, /verification\.timeout: must be from 1m to 24h.*got "59s"/),
  c("timeout a nanosecond short of 1m", { encryption: wg(), verification: { timeout: "59.999999999s" } }, /verification\.timeout: must be from 1m to 24h/),
  c("timeout 1ms", { encryption: wg(), verification: { timeout: "1ms" } }, /verification\.timeout: must be from 1m to 24h/),
  c(
    "inline kubeconfig a byte larger than an environment variable holds",
    { encryption: wg(), cluster: { kubeconfig: kubeconfigOf(MAX_INLINE_KUBECONFIG_BYTES + 1) } },
    /cluster\.kubeconfig: is 131038 bytes of inline contents; the verification hands the inline contents to the verifier in the environment variable CILIUM_ENCRYPTION_KUBECONFIG_DATA, and Linux passes at most 128 KiB per environment string, name included \(MAX_ARG_STRLEN\); allowed: at most 131037 bytes, or the path of a kubeconfig file/,
    { hidden: KC_MARKER },
  ),
  c(
    "inline kubeconfig of 1 MiB",
    { encryption: wg(), cluster: { kubeconfig: kubeconfigOf(1 << 20) } },
    /cluster\.kubeconfig: is 1048576 bytes of inline contents; .*allowed: at most 131037 bytes/,
    { hidden: KC_MARKER },
  ),
  c(
    "secret inline kubeconfig too large",
    { encryption: wg(), cluster: { kubeconfig: kubeconfigOf(200_000) } },
    /cluster\.kubeconfig: is 200000 bytes of inline contents/,
    { secret: ["cilium-encryption:cluster"], hidden: KC_MARKER },
  ),
  c(
    "context a byte larger than an environment variable holds",
    { encryption: wg(), cluster: { context: "c".repeat(MAX_CONTEXT_BYTES + 1) } },
    /cluster\.context: is 131046 bytes; the verification hands the context to the verifier in the environment variable CILIUM_ENCRYPTION_CONTEXT, and Linux passes at most 128 KiB per environment string, name included \(MAX_ARG_STRLEN\); allowed: at most 131045 bytes/,
    { hidden: "cccccccc" },
  ),
  c(
    "context over the limit in bytes, not characters",
    { encryption: wg(), cluster: { context: "é".repeat(65_523) } },
    /cluster\.context: is 131046 bytes; .*allowed: at most 131045 bytes/,
    { hidden: "éééé" },
  ),
  c(
    "kubeconfig a lone brace",
    { encryption: wg(), cluster: { kubeconfig: "{" } },
    /cluster\.kubeconfig: is taken as a kubeconfig's contents \(it spans lines or starts with "\{" or "apiVersion:"\), but is not valid YAML or JSON \(line 1, column 2\); allowed: the path of a kubeconfig file \(relative to the project, ~ for home\), or a kubeconfig's contents: one YAML or JSON mapping of clusters, contexts, users and current-context/,
  ),
  c(
    "kubeconfig a line break",
    { encryption: wg(), cluster: { kubeconfig: "\n" } },
    /cluster\.kubeconfig: is taken as a kubeconfig's contents .*but is not a YAML or JSON mapping/,
  ),
  c(
    "kubeconfig apiVersion alone",
    { encryption: wg(), cluster: { kubeconfig: "apiVersion:" } },
    /cluster\.kubeconfig: .*but has no clusters, so nothing to connect to/,
  ),
  c(
    "kubeconfig of two documents",
    { encryption: wg(), cluster: { kubeconfig: `${kubeconfigOf()}---\n${kubeconfigOf()}` } },
    /cluster\.kubeconfig: .*but is not valid YAML or JSON \(line \d+, column 1\)/,
    { hidden: KC_MARKER },
  ),
  c(
    "kubeconfig without a kubeconfig's keys",
    { encryption: wg(), cluster: { kubeconfig: `server: https://127.0.0.1\ntoken: ${KC_MARKER}\n` } },
    /cluster\.kubeconfig: .*but has none of a kubeconfig's keys \(apiVersion, kind, preferences, clusters, users, contexts, current-context, extensions\)/,
    { hidden: KC_MARKER },
  ),
  c(
    "kubeconfig JSON with clusters a string",
    { encryption: wg(), cluster: { kubeconfig: '{"clusters": "prod"}' } },
    /cluster\.kubeconfig: .*but has clusters that is not a list of mappings/,
  ),
  c(
    "kubeconfig of another apiVersion",
    { encryption: wg(), cluster: { kubeconfig: kubeconfigOf().replace("apiVersion: v1", "apiVersion: v2") } },
    /cluster\.kubeconfig: .*but has an apiVersion other than v1, the only kubeconfig version/,
    { hidden: KC_MARKER },
  ),
  c(
    "kubeconfig of another kind",
    { encryption: wg(), cluster: { kubeconfig: kubeconfigOf().replace("kind: Config", "kind: Pod") } },
    /cluster\.kubeconfig: .*but has a kind other than Config/,
    { hidden: KC_MARKER },
  ),
  c(
    "kubeconfig holding a NUL",
    { encryption: wg(), cluster: { kubeconfig: `${kubeconfigOf()}preferences: {colors: "\0"}\n` } },
    /cluster\.kubeconfig: holds a NUL character, which no environment variable can carry/,
    { hidden: KC_MARKER },
  ),
  c(
    "secret kubeconfig that does not parse",
    { encryption: wg(), cluster: { kubeconfig: `apiVersion: v1\nusers: [{name: u, user: {token: ${KC_MARKER}]\n` } },
    /cluster\.kubeconfig: is taken as a kubeconfig's contents .*but is not valid YAML or JSON/,
    { secret: ["cilium-encryption:cluster"], hidden: KC_MARKER },
  ),
  c(
    "values 101 levels deep",
    onWg(nested(101)),
    /cilium\.values\.a\.a\.a\.a\.a\.a…: nests more than 100 levels deep; allowed: at most 100 \(Cilium's chart values nest 10, and the Pulumi SDK overflows its stack on values about 1,000 levels deep\)/,
  ),
  c(
    "values 100,000 levels deep",
    { encryption: wg(), cilium: `{"values":${'{"a":'.repeat(100_000)}1${"}".repeat(100_000)}}` },
    /cilium\.values\.a\.a\.a\.a\.a\.a…: nests more than 100 levels deep/,
  ),
  c(
    "lists 100,000 levels deep",
    { encryption: wg(), cilium: `{"values":{"extraArgs":${"[".repeat(100_000)}${"]".repeat(100_000)}}}` },
    /cilium\.values\.extraArgs\[0\]\[0\]\[0\]\[0\]\[0\]…: nests more than 100 levels deep/,
  ),
  c(
    "a __proto__ key in values",
    { encryption: wg(), cilium: '{"values":{"__proto__":{"polluted":"yes"}}}' },
    /cilium\.values\.__proto__: a key named "__proto__" cannot be carried: JavaScript, and with it the Pulumi SDK that hands values to Helm, takes it as an object's prototype instead of a value \(dropped, or merged into other objects\), and no Cilium chart value has this name; remove it/,
  ),
  c(
    "a __proto__ key nested in values",
    { encryption: wg(), cilium: '{"values":{"hubble":{"tls":{"__proto__":{"enabled":false}}}}}' },
    /cilium\.values\.hubble\.tls\.__proto__: a key named "__proto__" cannot be carried/,
  ),
  c(
    "a __proto__ key in a list in values",
    { encryption: wg(), cilium: '{"values":{"extraEnv":[{"__proto__":{"name":"CILIUM_ENABLE_WIREGUARD"}}]}}' },
    /cilium\.values\.extraEnv\[0\]\.__proto__: a key named "__proto__" cannot be carried/,
  ),
  c(
    "a __proto__ top-level config key",
    JSON.parse('{"encryption":{"type":"wireguard"},"__proto__":{"verification":{"enabled":false}}}'),
    /cilium-encryption:__proto__: is not a known key; allowed here: encryption, cilium, cluster, verification/,
  ),
  c(
    "a __proto__ key in the encryption config",
    { encryption: JSON.parse('{"type":"wireguard","__proto__":{"type":"ipsec"}}') },
    /encryption\.__proto__: is not a known key; allowed here: type, allowModeSwitch, ipsec, wireguard/,
  ),
  c(
    "values over 128 KiB",
    onWg({ podAnnotations: { note: "x".repeat(140_000) } }),
    /cilium\.values: are 1400\d\d bytes as JSON; allowed: at most 131072 \(128 KiB\): Helm keeps the release, its chart, these values and the manifests rendered from them in one Secret, which Kubernetes limits to 1 MiB/,
  ),
  c(
    "secret values over 128 KiB",
    onWg({ podAnnotations: { note: `${KC_MARKER}${"x".repeat(140_000)}` } }),
    /cilium\.values: are 1400\d\d bytes as JSON; allowed: at most 131072/,
    { secret: ["cilium-encryption:cilium"], hidden: KC_MARKER },
  ),
];

describe("bad config is refused before any resource is registered", () => {
  it(`covers at least 220 configurations (${cases.length})`, () => assert.ok(cases.length >= 220));
  for (const { name, config, message, secret = [], hidden } of cases) {
    it(name, async () => {
      const run = startProgram(asPulumiConfig(config), {}, "dev", secret);
      let error: Error | undefined;
      await run.done.catch((e: Error) => (error = e));
      assert.ok(error !== undefined, "the program ran");
      assert.match(error.message, message);
      assert.match(error.message, /^invalid stack config:\n {2}- cilium-encryption:/, "one message per problem, each naming the key");
      if (hidden !== undefined) assert.ok(!error.message.includes(hidden), `a secret value is echoed: ${error.message}`);
      assert.deepEqual(
        run.resources.map((r) => r.type),
        [],
        "registered before refusing",
      );
    });
  }
});

describe("bad key lines are refused without echoing key material", () => {
  const hex = "0f1e2d3c4b5a69788796a5b4c3d2e1f001122334";
  const lines: Array<[string, string, RegExp]> = [
    [
      "16-byte key",
      `3+ rfc4106(gcm(aes)) ${hex.slice(0, 32)} 128`,
      /key material is 16 bytes; allowed: 20 \(aes-128-gcm\), 28 \(aes-192-gcm\), 36 \(aes-256-gcm\)/,
    ],
    ["ICV as key size", `3+ rfc4106(gcm(aes)) ${hex} 256`, /last field is the ICV length in bits and must be 128, got "256"/],
    ["rfc4543", `3+ rfc4543(gcm(aes)) ${hex} 128`, /algorithm "rfc4543\(gcm\(aes\)\)" is not allowed; only rfc4106\(gcm\(aes\)\)/],
    ["no +", `3 rfc4106(gcm(aes)) ${hex} 128`, /key id field must be 1\.\.15 followed by "\+" \(per-tunnel keys\), got "3"/],
    [
      "key in the id field",
      `${hex} 3+ rfc4106(gcm(aes)) 128`,
      /key id field must be 1\.\.15 followed by "\+" \(per-tunnel keys\), got a 40-character field \(not shown/,
    ],
    ["key in the algorithm field", `3+ ${hex} rfc4106(gcm(aes)) 128`, /algorithm a 40-character field \(not shown: it may hold key material\) is not allowed/],
    [
      "second key in the ICV field",
      `3+ rfc4106(gcm(aes)) ${hex} ${hex}`,
      /last field is the ICV length in bits and must be 128, got a 40-character field \(not shown/,
    ],
    ["base64 key in the id field", `DxctPEtaaXiHlqW0w9Lh8AARIjQ= 3+ rfc4106(gcm(aes)) 128`, /key id field must be .*got a 28-character field \(not shown/],
    ["leading space", ` 3+ rfc4106(gcm(aes)) ${hex} 128`, /must not start or end with whitespace/],
    ["trailing newline", `3+ rfc4106(gcm(aes)) ${hex} 128\n`, /single line/],
    ["double space", `3+ rfc4106(gcm(aes))  128`, /single spaces/],
    ["uppercase hex", `3+ rfc4106(gcm(aes)) ${hex.toUpperCase()} 128`, /even number of lowercase hex digits/],
    ["five fields", `3+ rfc4106(gcm(aes)) ${hex} 128 extra`, /must have 4 fields .* found 5/],
    ["id 16", `16+ rfc4106(gcm(aes)) ${hex} 128`, /key id must be an integer from 1 to 15, got 16/],
  ];
  for (const [name, line, message] of lines) {
    it(name, () => {
      assert.throws(
        () => parseKeyLine(line),
        (e: unknown) => {
          assert.ok(e instanceof KeyLineError);
          assert.match(e.message, message);
          for (const secret of [hex, hex.toUpperCase(), "DxctPEtaaXiHlqW0w9Lh8AARIjQ="]) {
            for (let i = 0; i + 8 <= secret.length; i++) assert.ok(!e.message.includes(secret.slice(i, i + 8)), `echoes key material: ${e.message}`);
          }
          return true;
        },
      );
    });
  }
});

describe("the edges of what is allowed are accepted", () => {
  const good: Array<[string, Record<string, unknown>, (run: Awaited<ReturnType<typeof runProgram>>) => void]> = [
    [
      "keyRotationDuration of Go's largest duration",
      { encryption: ipsec({ keyRotationDuration: "2562047h47m16.854775807s" }) },
      (r) => assert.equal(r.one(RELEASE).inputs.values.encryption.ipsec.keyRotationDuration, "2562047h47m16.854775807s"),
    ],
    [
      "persistentKeepalive 65535s",
      { encryption: wg({ persistentKeepalive: "18h12m15s" }) },
      (r) => assert.equal(r.one(RELEASE).inputs.values.encryption.wireguard.persistentKeepalive, "18h12m15s"),
    ],
    [
      "timeout at the verifier's limit",
      { encryption: wg(), verification: { timeout: "24h" } },
      (r) => assert.match(r.one(COMMAND).inputs.create, /--timeout 86400 /),
    ],
    [
      "an OCI chart repository",
      { encryption: wg(), cilium: { chart: { repo: "oci://quay.io/cilium/charts/" } } },
      (r) => {
        assert.equal(r.one(RELEASE).inputs.chart, "oci://quay.io/cilium/charts/cilium");
        assert.equal(r.one(RELEASE).inputs.repositoryOpts, undefined);
      },
    ],
    [
      "a chart directory of the pinned version",
      { encryption: wg(), cilium: { version: "1.19.7", chart: { path: paths.cilium119 } } },
      (r) => assert.equal(r.one(RELEASE).inputs.chart, paths.cilium119),
    ],
    [
      "a packaged chart of the pinned version",
      { encryption: wg(), cilium: { version: "1.18.11", chart: { path: paths.cilium118Tgz } } },
      (r) => assert.equal(r.one(RELEASE).inputs.chart, paths.cilium118Tgz),
    ],
    [
      "IPsec strict mode on 1.19",
      { encryption: ipsec({ strictMode: { enabled: true, cidr: "10.0.0.0/8", allowRemoteNodeIdentities: true } }), cilium: { version: "1.19.7" } },
      (r) =>
        assert.deepEqual(r.one(RELEASE).inputs.values.encryption.strictMode, {
          egress: { enabled: true, cidr: "10.0.0.0/8", allowRemoteNodeIdentities: true },
        }),
    ],
    [
      "strict ingress with WireGuard in tunnel mode on 1.19",
      onWg({ encryption: { strictMode: { ingress: { enabled: true } } } }, "1.19.7"),
      (r) => assert.equal(r.one(RELEASE).inputs.values.encryption.strictMode.ingress.enabled, true),
    ],
    [
      "multi-pool IPAM with IPsec on 1.18 in tunnel mode",
      onIpsec({ ipam: { mode: "multi-pool" } }, "1.18.11"),
      (r) => assert.equal(r.one(RELEASE).inputs.values.ipam.mode, "multi-pool"),
    ],
    [
      "unrelated agent options",
      onIpsec({ extraConfig: { "enable-ipsec-xfrm-state-caching": "true" }, extraArgs: ["--debug"], extraEnv: [{ name: "CILIUM_DEBUG", value: "true" }] }),
      (r) => assert.deepEqual(r.one(RELEASE).inputs.values.extraArgs, ["--debug"]),
    ],
    [
      "a kubeconfig file and a context",
      { encryption: wg(), cluster: { kubeconfig: paths.kubeconfig, context: "kind-kind" } },
      (r) => assert.equal(r.one("pulumi:providers:kubernetes").inputs.context, "kind-kind"),
    ],
    ["a release name of 53 characters", { encryption: wg(), cilium: { releaseName: "c".repeat(53), allowChartUpgrade: true } }, () => undefined],
    // what the program can carry: the boundaries
    [
      "keyRotationDuration 1s, the shortest",
      { encryption: ipsec({ keyRotationDuration: "1s" }) },
      (r) => assert.equal(r.one(RELEASE).inputs.values.encryption.ipsec.keyRotationDuration, "1s"),
    ],
    [
      "persistentKeepalive 1s, the shortest but off",
      { encryption: wg({ persistentKeepalive: "1s" }) },
      (r) => assert.equal(r.one(RELEASE).inputs.values.encryption.wireguard.persistentKeepalive, "1s"),
    ],
    ["timeout 1m, the shortest", { encryption: wg(), verification: { timeout: "1m" } }, (r) => assert.match(r.one(COMMAND).inputs.create, /--timeout 60 /)],
    ["version 1.16.0, the oldest", { encryption: wg(), cilium: { version: "1.16.0" } }, (r) => assert.equal(r.one(RELEASE).inputs.version, "1.16.0")],
    ["version 1.20.99, the highest patch", { encryption: wg(), cilium: { version: "1.20.99" } }, (r) => assert.equal(r.one(RELEASE).inputs.version, "1.20.99")],
    [
      "a version with a v, handed to Helm without it",
      { encryption: wg(), cilium: { version: "v1.20.2" } },
      (r) => assert.equal(r.one(RELEASE).inputs.version, "1.20.2"),
    ],
    [
      "inline kubeconfig of the largest size an environment variable holds",
      { encryption: wg(), cluster: { kubeconfig: kubeconfigOf(MAX_INLINE_KUBECONFIG_BYTES) } },
      (r) => {
        const environment = r.one(COMMAND).inputs.environment as Record<string, string>;
        assert.equal(r.one("pulumi:providers:kubernetes").inputs.kubeconfig, kubeconfigOf(MAX_INLINE_KUBECONFIG_BYTES));
        // Linux execs a shell with it; one byte more is E2BIG (connectionLimits.test.ts).
        const sh = spawnSync("/bin/sh", ["-c", 'printf %s "$CILIUM_ENCRYPTION_KUBECONFIG_DATA" | wc -c'], {
          env: { PATH: "/usr/bin:/bin", ...environment },
          encoding: "utf8",
        });
        assert.equal(sh.stdout.trim(), String(MAX_INLINE_KUBECONFIG_BYTES));
      },
    ],
    [
      "a context of the largest size an environment variable holds",
      { encryption: wg(), cluster: { context: "c".repeat(MAX_CONTEXT_BYTES) } },
      (r) => assert.equal(r.one(COMMAND).inputs.environment.CILIUM_ENCRYPTION_CONTEXT.length, MAX_CONTEXT_BYTES),
    ],
    [
      "a one-line JSON kubeconfig",
      { encryption: wg(), cluster: { kubeconfig: '{"apiVersion":"v1","clusters":[{"name":"c","cluster":{"server":"https://127.0.0.1:6443"}}]}' } },
      (r) => assert.match(r.one("pulumi:providers:kubernetes").inputs.kubeconfig, /^\{"apiVersion":"v1"/),
    ],
    [
      "values 100 levels deep, the deepest",
      onWg(nested(100)),
      (r) => {
        let node = r.one(RELEASE).inputs.values;
        for (let level = 1; level < 100; level++) node = node.a;
        assert.deepEqual(node, { x: 1 });
      },
    ],
    [
      "values of 128 KiB as JSON, the largest",
      onWg({ podAnnotations: { note: "x".repeat(MAX_VALUES_BYTES - '{"podAnnotations":{"note":""}}'.length) } }),
      (r) => assert.equal(r.one(RELEASE).inputs.values.podAnnotations.note.length, MAX_VALUES_BYTES - 30),
    ],
    [
      "constructor and prototype keys in values, carried as plain values",
      onWg({ podLabels: { constructor: "a", prototype: "b" } }),
      (r) => assert.deepEqual(r.one(RELEASE).inputs.values.podLabels, { constructor: "a", prototype: "b" }),
    ],
  ];
  for (const [name, config, check] of good) it(name, async () => check(await runProgram(asPulumiConfig(config))));

  it("the verification timeout limit is the verifier's own", () => {
    assert.equal(
      parseVerifierArgs(["--mode", "ipsec", "--namespace", "kube-system", "--cilium-version", "1.20.2", "--timeout", String(VERIFIER_MAX_TIMEOUT_SECONDS)])
        .timeoutSeconds,
      VERIFIER_MAX_TIMEOUT_SECONDS,
    );
    assert.throws(() =>
      parseVerifierArgs(["--mode", "ipsec", "--namespace", "kube-system", "--cilium-version", "1.20.2", "--timeout", String(VERIFIER_MAX_TIMEOUT_SECONDS + 1)]),
    );
  });

  it("a verification timeout not longer than keyRotationDuration plus a reclaimer run is a warning: the rotation's verification may not settle", () => {
    const settings = parseSettings(asPulumiConfig({ encryption: ipsec({ keyRotationDuration: "5m" }), verification: { timeout: "6m" } }));
    assert.deepEqual(settings.warnings, [
      "cilium-encryption:verification.timeout: 6m is not longer than encryption.ipsec.keyRotationDuration plus one run of the agents' once-a-minute " +
        "stale-key reclaimer (6m0s): after a key rotation, agents keep the old key that long (cilium v1.20.2 pkg/datapath/linux/ipsec/ipsec_linux.go), " +
        "so the rotation's verification can end before the keys settle and fail the update; lengthen the timeout or shorten keyRotationDuration",
    ]);
    for (const config of [
      { encryption: ipsec({ keyRotationDuration: "5m" }), verification: { timeout: "6m1s" } },
      { encryption: ipsec({ keyRotationDuration: "5m" }), verification: { timeout: "2m", enabled: false } },
      { encryption: wg(), verification: { timeout: "1m" } },
    ]) {
      assert.deepEqual(parseSettings(asPulumiConfig(config)).warnings, [], JSON.stringify(config));
    }
  });

  it("strict mode that may cover node addresses is a warning naming Cilium's refusal", () => {
    const settings = parseSettings(asPulumiConfig({ encryption: wg({ strictMode: { enabled: true, cidr: "10.0.0.0/8" } }) }));
    assert.equal(settings.warnings.length, 1);
    assert.match(
      settings.warnings[0]!,
      /^cilium-encryption:encryption\.wireguard\.strictMode: Cilium agents refuse to start when a node's IPv4 address lies inside the strict-mode CIDR/,
    );
  });
});
