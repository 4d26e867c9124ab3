import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { type ChartSource, helmChart } from "../config/settings";
import type { CiliumVersion } from "../encryption/ciliumVersion";
import type { Values } from "../encryption/helmValues";

export interface CiliumReleaseArgs {
  /** Helm release name (cilium-cli and Cilium's docs use "cilium"). */
  releaseName: string;
  namespace: string;
  /** Pinned chart version; the encryption values emitted are the ones this version understands. */
  version: CiliumVersion;
  chart: ChartSource;
  /** The release's values, encryption values included (adopt/plan.ts). */
  values: Values;
  /**
   * Set when the stack took the release over from its users: their values (which may hold secrets)
   * stay secret in state, and destroying the stack never uninstalls their CNI.
   */
  adopted: boolean;
  /**
   * What comes from config the user marked secret: the values (`cilium` or `encryption` secret) and
   * the chart source (`cilium` secret; a repository URL can hold credentials).
   */
  secretConfig: { values: boolean; chart: boolean };
  /** On the run that adopts: the release's `<namespace>/<name>`, imported into the stack before the upgrade. */
  importId?: string;
  /** The adopted values contain nulls, which Helm reads as "drop this chart default"; the provider keeps them only when told. */
  allowNullValues: boolean;
  /** What is adopted and which values change, printed with the preview. */
  notes: string[];
  /** How long Helm waits for the agents to become ready. */
  timeoutSeconds: number;
}

/**
 * The Cilium Helm release with encryption on. The IPsec PSK never enters its values: Helm keeps
 * values in plain text in its release Secret, so the chart only gets the Secret's name.
 */
export class CiliumRelease extends pulumi.ComponentResource {
  public readonly name: pulumi.Output<string>;
  public readonly namespace: pulumi.Output<string>;
  public readonly revision: pulumi.Output<number>;
  public readonly status: pulumi.Output<string>;
  public readonly chartVersion: pulumi.Output<string>;
  public readonly adopted: boolean;

  constructor(name: string, args: CiliumReleaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("cilium-encryption:index:CiliumRelease", name, {}, opts);
    for (const note of args.notes) void pulumi.log.info(note, this);

    const secretValues = args.adopted || args.secretConfig.values;
    const secretChart = args.secretConfig.chart;
    const { chart, repositoryOpts } = helmChart(args.chart);
    const release = new k8s.helm.v3.Release(
      name,
      {
        name: args.releaseName,
        namespace: args.namespace,
        chart: secretChart ? pulumi.secret(chart) : chart,
        ...(repositoryOpts === undefined ? {} : { repositoryOpts: secretChart ? pulumi.secret(repositoryOpts) : repositoryOpts }),
        version: args.version.text,
        values: secretValues ? pulumi.secret(args.values) : args.values,
        ...(args.allowNullValues ? { allowNullValues: true } : {}),
        timeout: args.timeoutSeconds,
        // A failed rollout must not leave a release stuck in pending-upgrade.
        cleanupOnFail: true,
        maxHistory: 10,
      },
      {
        parent: this,
        // Components do not hand dependsOn down; the agents must not start before their key exists.
        dependsOn: opts?.dependsOn,
        // Helm install refuses a name in use (helm v3.18.6 pkg/action/install.go availableName), so an
        // existing release is imported; the engine then upgrades it to these inputs in the same run.
        ...(args.importId === undefined ? {} : { import: args.importId }),
        retainOnDelete: args.adopted,
        // An import reads the release in plain text with no earlier state to take secrecy from (the engine
        // copies it from inputs and prior state only: pulumi v3.259.0 pkg/resource/plugin/provider_plugin.go
        // annotateSecrets), so the outputs are marked secret on every path.
        additionalSecretOutputs: [...(secretValues ? ["values"] : []), ...(secretChart ? ["chart", "repositoryOpts"] : [])],
      },
    );

    this.name = release.status.name;
    this.namespace = release.status.namespace;
    this.revision = release.status.revision;
    this.status = release.status.status;
    this.chartVersion = release.status.version;
    this.adopted = args.adopted;
    this.registerOutputs({
      name: this.name,
      namespace: this.namespace,
      revision: this.revision,
      status: this.status,
      chartVersion: this.chartVersion,
      adopted: this.adopted,
    });
  }
}
