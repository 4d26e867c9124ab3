import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { CiliumVersion } from "../encryption/ciliumVersion";
import { ciliumValues, type EncryptionValuesInput, type Values } from "../encryption/helmValues";
import { helmChart, type ChartSource } from "../config/settings";

export interface CiliumReleaseArgs {
  namespace: string;
  /** Pinned chart version; the encryption values emitted are the ones this version understands. */
  version: CiliumVersion;
  chart: ChartSource;
  encryption: EncryptionValuesInput;
  /** Extra chart values; ours are merged over them and contradictions are rejected. */
  values: Values;
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

  constructor(name: string, args: CiliumReleaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("cilium-encryption:index:CiliumRelease", name, {}, opts);

    const release = new k8s.helm.v3.Release(
      name,
      {
        // Cilium's tooling (cilium-cli, docs) assumes the release is called "cilium".
        name: "cilium",
        namespace: args.namespace,
        ...helmChart(args.chart),
        version: args.version.text,
        values: ciliumValues(args.version, args.encryption, args.values),
        timeout: args.timeoutSeconds,
        // A failed rollout must not leave a release stuck in pending-upgrade.
        cleanupOnFail: true,
        maxHistory: 10,
      },
      // Components do not hand dependsOn down; the agents must not start before their key exists.
      { parent: this, dependsOn: opts?.dependsOn },
    );

    this.name = release.status.name;
    this.namespace = release.status.namespace;
    this.revision = release.status.revision;
    this.status = release.status.status;
    this.chartVersion = release.status.version;
    this.registerOutputs({
      name: this.name,
      namespace: this.namespace,
      revision: this.revision,
      status: this.status,
      chartVersion: this.chartVersion,
    });
  }
}
