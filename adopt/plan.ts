/**
 * What one run does with the Cilium the cluster may already run: install it, adopt the existing Helm
 * release (keeping every value its users set, changing only the encryption values), keep managing the
 * release the stack holds, or refuse with what to do. Pure: the cluster and the stack's last outputs
 * come in as data. The key line stays an opaque value `L` (a secret Output in the program).
 */

import { encryptionValuesInput, IPSEC_KEY_FILE, IPSEC_SECRET_NAME, PROJECT, type Settings } from "../config/settings";
import type { DeployedState } from "../config/transitions";
import { renderedEncryptionTypes } from "../encryption/chartRules";
import { parseCiliumVersion } from "../encryption/ciliumVersion";
import { ciliumValues, encryptionValues, leafPaths, type Values } from "../encryption/helmValues";
import { type IpsecAlgorithm, nextKeyId } from "../encryption/keyLine";
import type { HelmRelease } from "./helmRecord";
import type { KeyJudgement } from "./keyJudge";
import { adoptedValues, describeChanges, type ValueChange, valueChanges } from "./values";

/** A Cilium agent DaemonSet (label k8s-app=cilium) and the Helm release its metadata names, if any. */
export interface AgentDaemonSet {
  namespace: string;
  name: string;
  /** `meta.helm.sh/release-name`, when the object also carries `app.kubernetes.io/managed-by: Helm`. */
  helmRelease?: string;
}

export interface ClusterState<L> {
  /** The current record of the release `cilium.releaseName` in `cilium.namespace`. */
  release?: HelmRelease;
  /** Cilium agent DaemonSets in all namespaces. */
  agents: AgentDaemonSet[];
  /** The IPsec key Secret in Cilium's namespace; `key` when it has the data key the chart mounts. */
  ipsecSecret?: { key?: { judgement: KeyJudgement; line: L } };
}

export interface ReleasePlan {
  /** install: a new release; adopt: take over the existing one in this run; manage: the stack holds it. */
  action: "install" | "adopt" | "manage";
  adopted: boolean;
  /** The ID for the Release's `import` option, only on the adopting run. */
  importId?: string;
  /** Secret in the Release when adopted: its users' values may hold secrets. */
  values: Values;
  /** The adopted values contain nulls (Helm: "remove this default"), which the provider drops unless told. */
  allowNullValues: boolean;
}

export type KeyPlan<L> = { adopted: false } | { adopted: true; keyId: number; algorithm: IpsecAlgorithm; line: L };

export interface Plan<L> {
  problems: string[];
  /** What is adopted and which values change, for the preview. */
  notes: string[];
  /** Checked by transitionProblems: the stack's own state, or on the adopting run what the cluster runs. */
  deployed: DeployedState;
  release: ReleasePlan;
  key?: KeyPlan<L>;
}

const isObject = (v: unknown): v is Values => typeof v === "object" && v !== null && !Array.isArray(v);

/** Walked without recursion: a release record can nest deeper than the stack allows (a refusal, not a crash). */
function hasNull(root: unknown): boolean {
  const pending = [root];
  while (pending.length > 0) {
    const v = pending.pop();
    if (v === null) return true;
    if (typeof v === "object") for (const child of Object.values(v)) pending.push(child);
  }
  return false;
}

/**
 * The mode a release runs per its users' values; the chart's default type is ipsec (cilium v1.20.2
 * values.yaml), and a type its chart does not render leaves encryption off (encryption/chartRules.ts).
 */
export function liveMode(config: Values, chartVersion: string): string | undefined {
  const enc = config.encryption;
  if (!isObject(enc) || enc.enabled !== true) return undefined;
  const type = typeof enc.type === "string" ? enc.type : "ipsec";
  const version = parseCiliumVersion(chartVersion);
  return typeof version === "string" || renderedEncryptionTypes(version).includes(type) ? type : undefined;
}

/** Helm release statuses a release can be adopted in (helm v3.18.6 pkg/release/status.go). */
const ADOPTABLE = new Set(["deployed", "failed"]);

function agentProblems(agents: AgentDaemonSet[], namespace: string, releaseName: string): string[] {
  return agents.map((ds) => {
    const where = `${ds.namespace}/${ds.name}`;
    if (ds.namespace !== namespace) {
      const release = ds.helmRelease === undefined ? "" : ` and ${PROJECT}:cilium.releaseName to ${ds.helmRelease}`;
      return `Cilium already runs in namespace ${ds.namespace} (DaemonSet ${where}); set ${PROJECT}:cilium.namespace to ${ds.namespace}${release}, so that the program adopts it instead of installing a second Cilium`;
    }
    if (ds.helmRelease === undefined) {
      return (
        `the Cilium agent DaemonSet ${where} is not part of a Helm release: it lacks the label app.kubernetes.io/managed-by: Helm and the ` +
        `annotation meta.helm.sh/release-name that Helm puts on everything it installs (helm v3.18.6 pkg/action/validate.go setMetadataVisitor), ` +
        `so an operator or kubectl applied it. The program manages Cilium as a Helm release and changes only its encryption values; it does not ` +
        `install a second Cilium over this one. Make it a Helm release first, with the chart version and values it runs now: ` +
        `helm install ${releaseName} cilium/cilium --namespace ${namespace} --version <its version> -f <its values> --take-ownership (Helm 3.17 or later), ` +
        `or reinstall it with cilium-cli, which installs the Helm release "cilium"; then run pulumi up again`
      );
    }
    if (ds.helmRelease !== releaseName) {
      return `Cilium in ${namespace} is the Helm release ${ds.helmRelease} (DaemonSet ${where}); set ${PROJECT}:cilium.releaseName to ${ds.helmRelease}`;
    }
    return (
      `the DaemonSet ${where} belongs to the Helm release ${releaseName}, but ${namespace} holds no record of it (Secrets sh.helm.release.v1.${releaseName}.v<N>, ` +
      `Helm's default storage); a release Helm stored with HELM_DRIVER=configmap or sql cannot be adopted`
    );
  });
}

/** Why the release the cluster runs cannot be adopted (or, once adopted, changed) as the stack says. */
function liveReleaseProblems(settings: Settings, live: HelmRelease, holds: boolean): string[] {
  const { namespace, releaseName, version, allowChartUpgrade } = settings.cilium;
  const where = `${namespace}/${releaseName}`;
  const problems: string[] = [];
  if (!holds && !ADOPTABLE.has(live.status)) {
    problems.push(
      `the Helm release ${where} is ${live.status}; finish or roll back that operation with helm (helm history ${releaseName} -n ${namespace}) before the program adopts it`,
    );
  }
  if (!holds && live.chartName !== "cilium") {
    problems.push(
      `the Helm release ${where} is of the chart ${JSON.stringify(live.chartName)}, not cilium; set ${PROJECT}:cilium.releaseName to Cilium's release`,
    );
  }
  if (live.chartVersion !== version.text && !allowChartUpgrade) {
    problems.push(
      `${PROJECT}:cilium.version: the release ${where} runs chart ${live.chartVersion}, the stack pins ${version.text}. Set cilium.version to ` +
        `${live.chartVersion} to change only the encryption values, or set ${PROJECT}:cilium.allowChartUpgrade to true to move the release to ${version.text} in the same update`,
    );
  }
  const liveIpsec = isObject(live.config.encryption) ? live.config.encryption.ipsec : undefined;
  if (!holds && liveMode(live.config, live.chartVersion) === "ipsec" && isObject(liveIpsec)) {
    for (const [key, ourValue] of [
      ["secretName", IPSEC_SECRET_NAME],
      ["keyFile", IPSEC_KEY_FILE],
    ] as const) {
      if (liveIpsec[key] !== undefined && liveIpsec[key] !== ourValue) {
        problems.push(
          `the release ${where} runs IPsec with encryption.ipsec.${key} ${JSON.stringify(liveIpsec[key])}; the program keeps the key in the Secret ` +
            `${IPSEC_SECRET_NAME}, data key ${IPSEC_KEY_FILE}, and moving agents to another key file without a key id change breaks them. ` +
            `Copy the key line there first, point the release at it with helm upgrade, then run pulumi up`,
        );
      }
    }
  }
  return problems;
}

const related = (a: string, b: string) => a === b || a.startsWith(`${b}.`) || b.startsWith(`${a}.`);

/**
 * The note's value changes. describeChanges prints the encryption values, and those can come from
 * config the user marked secret: `encryption` (a strict-mode CIDR) or a value of the stack's
 * `cilium.values`. Such a change names its path and what happens to it, never a value, not even the
 * release's old one, which the user's secret replaces.
 */
function changeLines(settings: Settings, changes: ValueChange[], removed: Map<string, string>): string[] {
  const userPaths = settings.secretKeys.has("cilium") ? [...leafPaths(settings.cilium.values).keys()] : [];
  const fromSecretConfig = (path: string) =>
    (settings.secretKeys.has("encryption") && path.startsWith("encryption.")) || userPaths.some((p) => related(p, path));
  return changes.map((c) => {
    if (!fromSecretConfig(c.path)) return describeChanges([c], removed)[0]!;
    if (!("after" in c)) return `${c.path}: removed${removed.has(c.path) ? `: ${removed.get(c.path)}` : ""}`;
    return `${c.path}: ${"before" in c ? "changed" : "set"} (value from secret config, not shown)`;
  });
}

export function planAdoption<L>(settings: Settings, memory: DeployedState, cluster: ClusterState<L>): Plan<L> {
  const { namespace, releaseName, version } = settings.cilium;
  const where = `${namespace}/${releaseName}`;
  const ours = encryptionValues(version, encryptionValuesInput(settings.encryption));
  const problems: string[] = [];
  const notes: string[] = [];
  const live = cluster.release;
  const holds = memory.release !== undefined;

  const stackValues = () => ciliumValues(version, encryptionValuesInput(settings.encryption), settings.cilium.values);
  let deployed = memory;
  let release: ReleasePlan;
  if (holds && memory.release?.adopted !== true) {
    release = { action: "manage", adopted: false, values: stackValues(), allowNullValues: false };
  } else if (live === undefined && holds) {
    notes.push(`the adopted release ${where} is no longer in the cluster; pulumi up --refresh installs it again with the stack's values`);
    release = { action: "manage", adopted: true, values: stackValues(), allowNullValues: false };
  } else if (live === undefined) {
    problems.push(...agentProblems(cluster.agents, namespace, releaseName));
    release = { action: "install", adopted: false, values: stackValues(), allowNullValues: false };
  } else {
    problems.push(...liveReleaseProblems(settings, live, holds));
    const adopted = adoptedValues(version, live.config, settings.cilium.values, ours);
    problems.push(
      ...adopted.problems.map((p) => `the release ${where} sets ${p}; the program changes only the encryption values, so change that with helm first`),
    );
    const changes = valueChanges(live.config, adopted.values);
    const kept = valueChanges({}, live.config).length - changes.filter((c) => "before" in c).length;
    const lines = changeLines(settings, changes, adopted.removed);
    notes.push(
      `${holds ? "managing the adopted" : "adopting the"} Helm release ${where} (chart ${live.chartVersion}, revision ${live.revision}; ` +
        `pulumi destroy leaves it installed): ` +
        (lines.length === 0 ? "no value changes" : `${lines.length} value change${lines.length === 1 ? "" : "s"}:\n  ${lines.join("\n  ")}`) +
        `\n  ${kept} other value${kept === 1 ? "" : "s"} the release's users set: unchanged`,
    );
    release = {
      action: holds ? "manage" : "adopt",
      adopted: true,
      ...(holds ? {} : { importId: where }),
      values: adopted.values,
      allowNullValues: hasNull(live.config),
    };
    if (!holds) {
      const mode = liveMode(live.config, live.chartVersion);
      deployed = { ...(mode === undefined ? {} : { mode }), source: "cluster" };
    }
  }

  const key = settings.encryption.type === "ipsec" ? planKey(settings, deployed, cluster, problems, notes) : undefined;
  return { problems, notes, deployed, release, ...(key === undefined ? {} : { key }) };
}

function planKey<L>(settings: Settings, memory: DeployedState, cluster: ClusterState<L>, problems: string[], notes: string[]): KeyPlan<L> {
  const enc = settings.encryption;
  if (enc.type !== "ipsec") return { adopted: false };
  const secretAt = `${settings.cilium.namespace}/${IPSEC_SECRET_NAME}`;
  const found = cluster.ipsecSecret?.key;
  const generated: KeyPlan<L> = { adopted: false };

  if (memory.source !== "cluster" && memory.mode === "ipsec") {
    if (memory.ipsecKeyAdopted !== true || enc.keyId !== memory.keyId) return generated;
    if (found?.judgement.kind === "keep" && found.judgement.keyId === enc.keyId) {
      return { adopted: true, keyId: found.judgement.keyId, algorithm: found.judgement.algorithm, line: found.line };
    }
    problems.push(
      `${PROJECT}:encryption.ipsec.keyId: the key this stack adopted in ${secretAt} (id ${enc.keyId}) was changed or removed out of band; ` +
        `set encryption.ipsec.keyId to ${nextKeyId(enc.keyId)} to replace it with a generated key`,
    );
    return generated;
  }

  if (found === undefined) {
    if (cluster.ipsecSecret !== undefined) notes.push(`${secretAt} exists without the data key ${IPSEC_KEY_FILE}; the program writes a generated key into it`);
    return generated;
  }
  const j = found.judgement;
  if (j.kind === "keep") {
    if (enc.keyId === j.keyId) {
      if (enc.algorithm !== j.algorithm) {
        problems.push(
          `${PROJECT}:encryption.ipsec.algorithm: the key in ${secretAt} is ${j.algorithm}; set encryption.ipsec.algorithm to ${j.algorithm} to keep it, ` +
            `or keep ${enc.algorithm} and set encryption.ipsec.keyId to ${nextKeyId(j.keyId)} to replace it with a generated key`,
        );
        return generated;
      }
      notes.push(`keeping the key in ${secretAt} as it is (id ${j.keyId}, ${j.algorithm}); bumping encryption.ipsec.keyId later rotates to a generated key`);
      return { adopted: true, keyId: j.keyId, algorithm: j.algorithm, line: found.line };
    }
    if (enc.keyId === nextKeyId(j.keyId)) {
      notes.push(`rotating the key in ${secretAt} from id ${j.keyId} to a generated key with id ${enc.keyId}`);
      return generated;
    }
    problems.push(
      `${PROJECT}:encryption.ipsec.keyId: ${secretAt} holds key id ${j.keyId}; set encryption.ipsec.keyId to ${j.keyId} to keep that key as it is, ` +
        `or to ${nextKeyId(j.keyId)} to rotate to a generated key (agents require the id to move on by one, 15 wraps to 1)`,
    );
    return generated;
  }
  if (j.keyId !== undefined && j.rotatable && enc.keyId === nextKeyId(j.keyId)) {
    notes.push(`replacing the key in ${secretAt} (id ${j.keyId}, not usable: ${j.reason}) with a generated key, id ${enc.keyId}`);
    return generated;
  }
  const fix =
    j.keyId === undefined
      ? `Cilium cannot read a key id from it either, so no agent uses it: delete the Secret (kubectl -n ${settings.cilium.namespace} delete secret ${IPSEC_SECRET_NAME}) and run pulumi up, which writes a generated key`
      : j.rotatable
        ? `set encryption.ipsec.keyId to ${nextKeyId(j.keyId)}: the program then replaces it with a generated ${enc.algorithm} key, a rotation agents follow while keeping the old key for keyRotationDuration`
        : `Cilium refuses to rotate from it to an AES-GCM key with a 128-bit ICV, because the key length it compares would change (cilium v1.20.2 ` +
          `pkg/datapath/linux/ipsec/ipsec_linux.go loadIPSecKeys); replace it by hand with a line of that ICV (id ${nextKeyId(j.keyId)}), then run pulumi up`;
  problems.push(`${PROJECT}:encryption.ipsec.keyId: the key in ${secretAt} cannot be kept: ${j.reason}. Fix: ${fix}`);
  return generated;
}
