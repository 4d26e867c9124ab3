/**
 * Reads what adoption decides on from the cluster, with kubectl (which the verifier needs anyway):
 * Cilium's Helm release record, Cilium agent DaemonSets, and the IPsec key Secret. The key line is
 * judged and wrapped as a secret Output right where it is decoded, and goes nowhere else; nothing read
 * here is logged.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { hostEnv, resolvePath } from "../config/files";
import { IPSEC_KEY_FILE, IPSEC_SECRET_NAME, isKubeconfigContents, type Settings } from "../config/settings";
import { currentRelease, type StorageSecret } from "./helmRecord";
import { judgeKeyLine } from "./keyJudge";
import type { AgentDaemonSet, ClusterState } from "./plan";

export type LiveCluster = ClusterState<pulumi.Output<string>>;
export type ClusterReader = (settings: Settings) => Promise<LiveCluster>;

interface ObjectMeta {
  name: string;
  namespace: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** Runs kubectl with the given arguments; stdout on success, else the reason. */
export type Kubectl = (args: string[]) => Promise<{ ok: true; stdout: string } | { ok: false; reason: string }>;

async function getJson<T>(kubectl: Kubectl, args: string[], connectionIsSecret: boolean): Promise<T | undefined> {
  const r = await kubectl([...args, "--output", "json"]);
  if (!r.ok) {
    // kubectl names the context and server in its errors; they stay hidden when the user marked them secret.
    const why = connectionIsSecret ? "kubectl failed (its message is not shown: the stack's cluster settings are secret)" : r.reason;
    throw new Error(`cannot read the cluster (kubectl ${args.slice(0, 2).join(" ")}): ${why}`);
  }
  const text = r.stdout.trim();
  return text === "" ? undefined : (JSON.parse(text) as T);
}

/** The Helm ownership Helm stamps on what it installs (helm v3.18.6 pkg/action/validate.go setMetadataVisitor). */
export function agentFrom(meta: ObjectMeta): AgentDaemonSet {
  const release = meta.labels?.["app.kubernetes.io/managed-by"] === "Helm" ? meta.annotations?.["meta.helm.sh/release-name"] : undefined;
  return { namespace: meta.namespace, name: meta.name, ...(release === undefined ? {} : { helmRelease: release }) };
}

/** The cluster as the given kubectl sees it; `settings` names the namespace, release and chart version. */
export async function readCluster(kubectl: Kubectl, settings: Settings): Promise<LiveCluster> {
  const { namespace, releaseName, version } = settings.cilium;
  const secretConnection = settings.clusterIsSecret;
  const [records, daemonSets, secret] = await Promise.all([
    getJson<{ items: StorageSecret[] }>(
      kubectl,
      ["get", "secrets", "--namespace", namespace, "--selector", `owner=helm,name=${releaseName}`],
      secretConnection,
    ),
    // The agent DaemonSet carries k8s-app: cilium in every supported chart (templates/cilium-agent/daemonset.yaml, v1.16.19 to v1.20.2).
    getJson<{ items: Array<{ metadata: ObjectMeta }> }>(kubectl, ["get", "daemonsets", "--all-namespaces", "--selector", "k8s-app=cilium"], secretConnection),
    getJson<{ data?: Record<string, string> }>(kubectl, ["get", "secret", IPSEC_SECRET_NAME, "--namespace", namespace, "--ignore-not-found"], secretConnection),
  ]);
  const release = currentRelease(records?.items ?? [], releaseName);
  const encoded = secret?.data?.[IPSEC_KEY_FILE];
  let ipsecSecret: LiveCluster["ipsecSecret"];
  if (secret !== undefined) {
    const line = encoded === undefined ? undefined : Buffer.from(encoded, "base64").toString("utf8");
    ipsecSecret = line === undefined || line === "" ? {} : { key: { judgement: judgeKeyLine(line, version), line: pulumi.secret(line) } };
  }
  return {
    ...(release === undefined ? {} : { release }),
    agents: (daemonSets?.items ?? []).map((d) => agentFrom(d.metadata)),
    ...(ipsecSecret === undefined ? {} : { ipsecSecret }),
  };
}

/**
 * kubectl with the stack's connection settings, none of them on a command line (other users can read
 * those): the kubeconfig goes in KUBECONFIG, inline contents through a private temporary file, and the
 * context through a one-line kubeconfig in front that sets only `current-context` (kubectl takes
 * current-context from the first file that sets it and merges the rest).
 */
export const readClusterWithKubectl: ClusterReader = async (settings) => {
  const { kubeconfig, context } = settings.cluster;
  const dir = mkdtempSync(join(tmpdir(), "cilium-encryption-"));
  try {
    let files = process.env.KUBECONFIG || join(homedir(), ".kube", "config");
    if (kubeconfig !== undefined && isKubeconfigContents(kubeconfig)) {
      files = join(dir, "kubeconfig");
      writeFileSync(files, kubeconfig, { mode: 0o600 });
    } else if (kubeconfig !== undefined) {
      files = resolvePath(hostEnv(), kubeconfig);
    }
    if (context !== undefined) {
      const overlay = join(dir, "context");
      writeFileSync(overlay, JSON.stringify({ apiVersion: "v1", kind: "Config", "current-context": context }), { mode: 0o600 });
      files = `${overlay}${delimiter}${files}`;
    }
    const env = { ...process.env, KUBECONFIG: files };
    const kubectl: Kubectl = (args) =>
      new Promise((resolve) =>
        execFile("kubectl", args, { env, timeout: 60_000, maxBuffer: 256 * 1024 * 1024 }, (error, stdout, stderr) =>
          resolve(error === null ? { ok: true, stdout } : { ok: false, reason: stderr.trim().split("\n").slice(-3).join(" ").slice(0, 400) || error.message }),
        ),
      );
    return await readCluster(kubectl, settings);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

let reader: ClusterReader = readClusterWithKubectl;

/** The reader the program uses; unit tests under Pulumi mocks give one that returns a made-up cluster. */
export function useClusterReader(next: ClusterReader): void {
  reader = next;
}

export const readLiveCluster: ClusterReader = (settings) => reader(settings);
