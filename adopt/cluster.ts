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
import { IPSEC_KEY_FILE, IPSEC_SECRET_NAME, isKubeconfigContents, PROJECT, type Settings } from "../config/settings";
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

/** A kubectl run that failed: its last stderr lines, and whether it could not start or did not answer. */
export interface KubectlFailure {
  ok: false;
  reason: string;
  cause?: "missing" | "timeout";
}

/** Runs kubectl with the given arguments; stdout on success, else why not. */
export type Kubectl = (args: string[]) => Promise<{ ok: true; stdout: string } | KubectlFailure>;

const KUBECTL_TIMEOUT_MS = 60_000;
const KUBECONFIG_KEY = `${PROJECT}:cluster.kubeconfig`;
const CONTEXT_KEY = `${PROJECT}:cluster.context`;

/**
 * Why the cluster could not be read, as what to check, by the settings that decide it. kubectl's own
 * words follow unless the user marked the cluster settings secret: they name the context and server.
 * Patterns: kubectl 1.33 and client-go's messages (clientcmd "context was not found for specified
 * context", "Unable to connect to the server", "The connection to the server … was refused").
 */
export function clusterReadError(what: string, failure: KubectlFailure, settings: Settings): string {
  const { kubeconfig, context } = settings.cluster;
  const r = failure.reason;
  const selects = `${KUBECONFIG_KEY} (${kubeconfig === undefined ? "not set: $KUBECONFIG or ~/.kube/config" : "set"}) and ${CONTEXT_KEY} (${context === undefined ? "not set: the kubeconfig's current context" : "set"})`;
  let why: string;
  if (failure.cause === "missing") {
    why =
      "kubectl is not on PATH; the program reads the cluster with it before it plans anything: install kubectl (within one minor version of the API server)";
  } else if (failure.cause === "timeout") {
    why = `kubectl had no answer within ${KUBECTL_TIMEOUT_MS / 1000} s: check that ${selects} select the cluster you mean and that its API server is reachable from here`;
  } else if (/context was not found|context "[^"]*" does not exist|no context exists/i.test(r)) {
    why =
      context === undefined
        ? `the kubeconfig's current context does not exist: set ${CONTEXT_KEY} to one that \`kubectl config get-contexts\` lists`
        : `the kubeconfig has no context of the name ${CONTEXT_KEY} gives: set it to one that \`kubectl config get-contexts\` lists for ${KUBECONFIG_KEY}`;
  } else if (/error loading config file|Error in configuration|invalid configuration/i.test(r)) {
    why = `kubectl cannot use the kubeconfig: check ${KUBECONFIG_KEY} (${kubeconfig === undefined ? "not set: $KUBECONFIG or ~/.kube/config" : "set"})`;
  } else if (kubeconfig === undefined && /localhost:8080/.test(r)) {
    why = `kubectl found no kubeconfig: set ${KUBECONFIG_KEY}, or $KUBECONFIG, or write ~/.kube/config`;
  } else if (/x509|certificate/i.test(r)) {
    why = `the API server's certificate is not the one the kubeconfig trusts: check ${KUBECONFIG_KEY} and ${CONTEXT_KEY}`;
  } else if (/Unauthorized|must be logged in/i.test(r)) {
    why = `the API server refused the kubeconfig's credentials (an expired token or certificate?): check the user of ${CONTEXT_KEY} in ${KUBECONFIG_KEY}`;
  } else if (/\(Forbidden\)|forbidden/i.test(r)) {
    why = `the kubeconfig's user may not ${what}: grant it the rules README.md lists for \`pulumi preview\` (section "CI and its credentials")`;
  } else if (
    /Unable to connect to the server|connection to the server|dial tcp|no such host|i\/o timeout|connection refused|no route to host|network is unreachable|TLS handshake timeout|EOF/i.test(
      r,
    )
  ) {
    why = `the API server is unreachable: check that ${selects} select the cluster you mean and that its API server is up and reachable from here`;
  } else {
    why = `kubectl failed: check ${selects}`;
  }
  const said = settings.clusterIsSecret ? " (kubectl's message is not shown: the stack's cluster settings are secret)" : r === "" ? "" : `; kubectl said: ${r}`;
  return `cannot ${what}: ${why}${said}`;
}

async function getJson<T>(kubectl: Kubectl, args: string[], what: string, settings: Settings): Promise<T | undefined> {
  const r = await kubectl([...args, "--output", "json"]);
  // RunError: the program stops with this message alone, no stack trace.
  if (!r.ok) throw new pulumi.RunError(clusterReadError(what, r, settings));
  const text = r.stdout.trim();
  if (text === "") return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new pulumi.RunError(`cannot ${what}: kubectl printed something that is not JSON (is \`kubectl\` on PATH kubectl?)`);
  }
}

/** The Helm ownership Helm stamps on what it installs (helm v3.18.6 pkg/action/validate.go setMetadataVisitor). */
export function agentFrom(meta: ObjectMeta): AgentDaemonSet {
  const release = meta.labels?.["app.kubernetes.io/managed-by"] === "Helm" ? meta.annotations?.["meta.helm.sh/release-name"] : undefined;
  return { namespace: meta.namespace, name: meta.name, ...(release === undefined ? {} : { helmRelease: release }) };
}

/** The cluster as the given kubectl sees it; `settings` names the namespace, release and chart version. */
export async function readCluster(kubectl: Kubectl, settings: Settings): Promise<LiveCluster> {
  const { namespace, releaseName, version } = settings.cilium;
  const [records, daemonSets, secret] = await Promise.all([
    getJson<{ items: StorageSecret[] }>(
      kubectl,
      ["get", "secrets", "--namespace", namespace, "--selector", `owner=helm,name=${releaseName}`],
      "list Secrets in cilium.namespace (Helm's release records)",
      settings,
    ),
    // The agent DaemonSet carries k8s-app: cilium in every supported chart (templates/cilium-agent/daemonset.yaml, v1.16.19 to v1.20.2).
    getJson<{ items: Array<{ metadata: ObjectMeta }> }>(
      kubectl,
      ["get", "daemonsets", "--all-namespaces", "--selector", "k8s-app=cilium"],
      "list DaemonSets in all namespaces (Cilium's agents)",
      settings,
    ),
    getJson<{ data?: Record<string, string> }>(
      kubectl,
      ["get", "secret", IPSEC_SECRET_NAME, "--namespace", namespace, "--ignore-not-found"],
      `get the Secret ${IPSEC_SECRET_NAME} in cilium.namespace`,
      settings,
    ),
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

/** kubectl's last words, without client-go's repeated discovery log lines (`E1207 02:06:06.169560 …`). */
export function kubectlReason(stderr: string): string {
  const lines = stderr
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !/^[EWI]\d{4} \d\d:\d\d:\d\d/.test(l));
  return lines.slice(-3).join(" ").slice(0, 400);
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
        execFile("kubectl", args, { env, timeout: KUBECTL_TIMEOUT_MS, maxBuffer: 256 * 1024 * 1024 }, (error, stdout, stderr) => {
          if (error === null) return resolve({ ok: true, stdout });
          if ((error as NodeJS.ErrnoException).code === "ENOENT") return resolve({ ok: false, reason: "", cause: "missing" });
          if (error.killed) return resolve({ ok: false, reason: "", cause: "timeout" });
          resolve({ ok: false, reason: kubectlReason(stderr) || error.message });
        }),
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
