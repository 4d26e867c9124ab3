import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { buildKeyLine, type IpsecAlgorithm, pskBytes } from "../encryption/keyLine";

export interface IpsecKeyArgs {
  /** Cilium's release namespace: the agent DaemonSet mounts the Secret from there, nowhere else. */
  namespace: string;
  /** Must match the chart's `encryption.ipsec.secretName`. */
  secretName: string;
  /** Data key of the Secret; must match the chart's `encryption.ipsec.keyFile`. */
  keyFile: string;
  /** 1..15. A new id yields a new PSK; agents require the id to change on every rotation. */
  keyId: number;
  algorithm: IpsecAlgorithm;
  /** Guard the Secret against deletion (agents cannot start without it). */
  protect: boolean;
  /**
   * A valid line the Secret already held, kept as it is (same key, same id: agents notice no change)
   * instead of a generated key. A secret Output from the moment it was read.
   */
  adoptedLine?: pulumi.Output<string>;
  /** Leave the Secret in the cluster when the stack is destroyed (an adopted Cilium keeps running and needs it). */
  retainOnDelete: boolean;
}

/**
 * The IPsec pre-shared key: random bytes sized for the algorithm, written as Cilium's key line into the
 * Secret the agents read. The Secret is updated in place on rotation (the provider must have
 * `enableSecretMutable`): a delete-then-create would leave agents without their key file.
 */
export class IpsecKey extends pulumi.ComponentResource {
  public readonly secretName: pulumi.Output<string>;
  public readonly namespace: pulumi.Output<string>;
  public readonly keyId: pulumi.Output<number>;

  constructor(name: string, args: IpsecKeyArgs, opts?: pulumi.ComponentResourceOptions) {
    super("cilium-encryption:index:IpsecKey", name, {}, opts);

    const keyLine = args.adoptedLine ?? this.generatedLine(name, args);

    const secret = new k8s.core.v1.Secret(
      `${name}-secret`,
      {
        metadata: {
          name: args.secretName,
          namespace: args.namespace,
          labels: { "app.kubernetes.io/managed-by": "cilium-encryption" },
          annotations: {
            // The id is not secret and lets operators and the drift report see which key is live.
            "cilium-encryption/key-id": String(args.keyId),
            "cilium-encryption/algorithm": args.algorithm,
            // This program owns the key: after an out-of-band `kubectl edit`, `pulumi up` must win the
            // server-side-apply field conflict instead of failing on it.
            "pulumi.com/patchForce": "true",
          },
        },
        type: "Opaque",
        stringData: { [args.keyFile]: keyLine },
      },
      // An existing Secret is taken over in place: with server-side apply the provider's create is an
      // upsert, and patchForce takes the fields kubectl owned.
      { parent: this, protect: args.protect, retainOnDelete: args.retainOnDelete, additionalSecretOutputs: ["data", "stringData"] },
    );

    this.secretName = secret.metadata.name;
    this.namespace = secret.metadata.namespace;
    this.keyId = pulumi.output(args.keyId);
    this.registerOutputs({ secretName: this.secretName, namespace: this.namespace, keyId: this.keyId });
  }

  /** Random bytes sized for the algorithm; keepers tie them to id and algorithm, so bumping the id rotates. */
  private generatedLine(name: string, args: IpsecKeyArgs): pulumi.Output<string> {
    const psk = new random.RandomBytes(
      `${name}-psk`,
      { length: pskBytes(args.algorithm), keepers: { keyId: String(args.keyId), algorithm: args.algorithm } },
      { parent: this, additionalSecretOutputs: ["hex", "base64"] },
    );
    return pulumi.secret(psk.hex.apply((hex) => buildKeyLine(args.keyId, args.algorithm, hex)));
  }
}
