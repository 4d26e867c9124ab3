/**
 * End-to-end harness: the real Pulumi engine and providers, driven by the Automation API, against a
 * local control plane with the agent simulator that this file starts for its test file (the toolchain,
 * the charts and the Pulumi environment arrive in the environment from scripts/test.sh). Never skips:
 * a missing piece is an error.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { type EngineEvent, LocalWorkspace, type Stack } from "@pulumi/pulumi/automation";
import { parse, stringify } from "yaml";
import { PROJECT } from "../../config/settings";

export const PROJECT_DIR = resolve(__dirname, "../..");
/** The supported minors' pinned charts, newest (the default) last: toolchain/pins.env CILIUM_VERSIONS. */
export const CILIUM_VERSIONS = required("CILIUM_VERSIONS").split(/\s+/).filter(Boolean);
export const CHART_VERSION = CILIUM_VERSIONS[CILIUM_VERSIONS.length - 1]!;
/** Cilium's real chart of a version, from the github.com/cilium/cilium module the toolchain fetched. */
export const chartPath = (version: string) => join(required("CILIUM_CHARTS"), version);

function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === "") {
    throw new Error(`${name} is not set: run the end-to-end tests through scripts/test.sh, which builds the toolchain and starts the cluster`);
  }
  return value;
}

/**
 * Each test file runs in its own process (node --test) with its own control plane and agent simulator,
 * started when the file loads and stopped when it exits: Cilium's chart owns cluster-wide objects under
 * fixed names (ClusterRole cilium, ...), so files running at the same time cannot share a cluster.
 */
const clusterWork = (() => {
  const dir = mkdtempSync(join(required("E2E_WORK"), "cluster-"));
  const lib = (fn: string) => ["-c", `source scripts/lib.sh && ${fn} "$1" 2>>"$1.log"`, "_", dir];
  const started = spawnSync("bash", lib("KEEP_CLUSTER=true start_cluster"), { cwd: PROJECT_DIR, stdio: "ignore" });
  process.on("exit", () => spawnSync("bash", lib("_stop_cluster"), { cwd: PROJECT_DIR, stdio: "ignore" }));
  if (started.status !== 0) throw new Error(`the control plane did not start (exit ${started.status}): ${readFileSync(`${dir}.log`, "utf8").slice(-2000)}`);
  process.env.E2E_KUBECONFIG = join(dir, "cluster", "kubeconfig");
  return dir;
})();

export const kubeconfig = () => join(clusterWork, "cluster", "kubeconfig");
const simDir = () => join(clusterWork, "sim");

export function kubectl(...args: string[]): string {
  // Cilium's release records hold the whole chart, a few MB each.
  return execFileSync("kubectl", ["--kubeconfig", kubeconfig(), ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 1 << 30 });
}

export function kubectlJson<T = any>(...args: string[]): T {
  return JSON.parse(kubectl(...args, "-o", "json")) as T;
}

export function helm(...args: string[]): string {
  return execFileSync("helm", ["--kubeconfig", kubeconfig(), ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** Whether an object exists, without failing on NotFound. */
export function exists(kind: string, name: string, namespace: string): boolean {
  const out = kubectl("get", kind, name, "-n", namespace, "--ignore-not-found", "-o", "name");
  return out.trim() !== "";
}

/**
 * Puts a fault on one simulated node's agent (test/sim/README.md, "Faults"), by node name: e.g.
 * `{ agentDown: true }`, `{ mode: "Disabled" }`, `{ xfrmErrors: { XfrmInStateProtoError: { initial: 0, perSecond: 5 } } }`.
 */
export function agentFault(node: string, fault: Record<string, unknown>): void {
  mkdirSync(join(simDir(), "faults"), { recursive: true });
  writeFileSync(join(simDir(), "faults", `${node}.json`), JSON.stringify(fault));
}

/** Every simulated agent back to what the cluster state alone implies. */
export function clearAgentFaults(): void {
  rmSync(join(simDir(), "faults"), { recursive: true, force: true });
  mkdirSync(join(simDir(), "faults"));
}

/** How often simulated agents have been asked (`cilium-dbg` calls) since the simulator started. */
export function agentCalls(): number {
  const out = execFileSync("curl", ["-sf", "--unix-socket", join(simDir(), "sim.sock"), "http://sim/state"], { encoding: "utf8" });
  return (JSON.parse(out) as { agentCalls: number }).agentCalls;
}

/** The base stack config for a test: Cilium's real chart, the test cluster, a fresh namespace. */
export function stackConfig(namespace: string, encryption: Record<string, unknown>, extra: Record<string, unknown> = {}, version = CHART_VERSION) {
  return {
    encryption,
    cilium: { namespace, version, chart: { path: chartPath(version) } },
    cluster: { kubeconfig: kubeconfig() },
    verification: { timeout: "3m", wireCheck: true },
    ...extra,
  };
}

export interface TestStack {
  stack: Stack;
  name: string;
  namespace: string;
  events: EngineEvent[];
  /** Everything the engine printed, for leak checks. */
  output: string[];
  setConfig(config: Record<string, unknown>): void;
  up(opts?: { refresh?: boolean }): ReturnType<Stack["up"]>;
  preview(opts?: { expectNoChanges?: boolean }): ReturnType<Stack["preview"]>;
  remove(): Promise<void>;
}

let counter = 0;

/** A stack of this project in the shared test backend, with config written as a user would write it. */
export async function newStack(label: string, config: Record<string, unknown>): Promise<TestStack> {
  const name = `e2e-${label}-${process.pid}-${counter++}`;
  const namespace = `ns-${label}`.slice(0, 50);
  if (!exists("namespace", namespace, "default")) kubectl("create", "namespace", namespace);
  const stack = await LocalWorkspace.createOrSelectStack({ stackName: name, workDir: PROJECT_DIR });
  const events: EngineEvent[] = [];
  const output: string[] = [];
  const file = join(PROJECT_DIR, `Pulumi.${name}.yaml`);
  const t: TestStack = {
    stack,
    name,
    namespace,
    events,
    output,
    setConfig(c) {
      // Keep what `stack init` wrote (the passphrase salt); replace only the project's config.
      const doc = (parse(readFileSync(file, "utf8")) ?? {}) as Record<string, unknown>;
      doc.config = Object.fromEntries(Object.entries(c).map(([k, v]) => [`${PROJECT}:${k}`, v]));
      writeFileSync(file, stringify(doc));
    },
    up: (opts = {}) => stack.up({ onEvent: (e) => events.push(e), onOutput: (o) => output.push(o), color: "never", ...opts }),
    preview: (opts = {}) => stack.preview({ onEvent: (e) => events.push(e), onOutput: (o) => output.push(o), color: "never", ...opts }),
    async remove() {
      await stack.workspace.removeStack(name, { force: true }).catch(() => undefined);
      rmSync(file, { force: true });
      // Cilium's chart owns cluster-wide objects under fixed names (ClusterRole cilium, ...), so the
      // next test's release can only install once this one is gone, whatever the test left behind.
      helm("uninstall", "cilium", "--namespace", namespace, "--ignore-not-found", "--wait", "--timeout", "2m");
      kubectl("delete", "namespace", namespace, "--ignore-not-found", "--wait=false");
    },
  };
  t.setConfig(config);
  return t;
}

/** Every file under the local state backend (state, history, backups, locks), for leak checks. */
export function backendText(): string {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const f of readdirSync(dir)) {
      const p = join(dir, f);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(readFileSync(p, "latin1"));
    }
  };
  walk(required("PULUMI_BACKEND_URL").replace(/^file:\/\//, ""));
  return out.join("\n");
}

/** The PSK as the cluster holds it (the test's own copy, for leak checks; never printed). */
export function livePsk(namespace: string): { line: string; uid: string } {
  const secret = kubectlJson("get", "secret", "cilium-ipsec-keys", "-n", namespace);
  return { line: Buffer.from(secret.data.keys, "base64").toString("utf8"), uid: secret.metadata.uid };
}

/** Values Helm stored for the release (Helm keeps them gzip+base64 in its release Secret). */
export function helmReleaseValues(namespace: string): { revision: number; values: any; raw: string } {
  const list = kubectlJson("get", "secret", "-n", namespace, "-l", "owner=helm,name=cilium");
  const latest = list.items.sort((a: any, b: any) => Number(b.metadata.labels.version) - Number(a.metadata.labels.version))[0];
  if (latest === undefined) throw new Error(`no Helm release record for cilium in ${namespace}`);
  const gz = Buffer.from(Buffer.from(latest.data.release, "base64").toString("utf8"), "base64");
  const raw = gunzipSync(gz).toString("utf8");
  const release = JSON.parse(raw);
  return { revision: release.version, values: release.config, raw };
}

/**
 * What `helm upgrade` by another program leaves behind, as Helm's secrets storage driver writes it:
 * a new release record (gzip+base64 JSON) marked deployed, the previous one superseded.
 */
export function helmUpgradeOutOfBand(namespace: string, changeValues: (values: any) => void): void {
  const list = kubectlJson("get", "secret", "-n", namespace, "-l", "owner=helm,name=cilium,status=deployed");
  const current = list.items[0];
  const release = JSON.parse(gunzipSync(Buffer.from(Buffer.from(current.data.release, "base64").toString("utf8"), "base64")).toString("utf8"));
  const version = release.version + 1;
  changeValues(release.config);
  release.version = version;
  release.info.status = "deployed";
  release.info.description = "Upgrade complete";
  const encoded = gzipSync(Buffer.from(JSON.stringify(release))).toString("base64");
  const secret = {
    apiVersion: "v1",
    kind: "Secret",
    type: "helm.sh/release.v1",
    metadata: {
      name: `sh.helm.release.v1.cilium.v${version}`,
      namespace,
      labels: { owner: "helm", name: "cilium", status: "deployed", version: String(version) },
    },
    data: { release: Buffer.from(encoded).toString("base64") },
  };
  execFileSync("kubectl", ["--kubeconfig", kubeconfig(), "create", "-f", "-"], { input: JSON.stringify(secret), stdio: ["pipe", "ignore", "pipe"] });
  kubectl("label", "secret", "-n", namespace, current.metadata.name, "status=superseded", "--overwrite");
}
