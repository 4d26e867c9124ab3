/**
 * Rules for changing a deployed stack, checked against what the previous `pulumi up` exported.
 * They exist because Cilium breaks on these changes rather than refusing them.
 */
import { nextKeyId } from "../encryption/keyLine";
import { PROJECT, type Settings } from "./settings";

/**
 * What the last successful update of this stack exported (all absent on a new stack), or, on the run
 * that adopts an existing Cilium, what the cluster runs (`source: "cluster"`).
 */
export interface DeployedState {
  mode?: string;
  keyId?: number;
  ipsecAlgorithm?: string;
  ipsecSecretProtected?: boolean;
  /** Present once the stack holds the Cilium release; `adopted` when it took over an existing one. */
  release?: { adopted: boolean };
  /** The key in use is one the stack found in the cluster and kept rather than one it generated. */
  ipsecKeyAdopted?: boolean;
  /** Set on the adopting run: `mode` is what the cluster's release runs (key rules: adopt/plan.ts). */
  source?: "cluster";
}

/** Stack outputs the state is read from (index.ts exports them under these names). */
export const DEPLOYED_OUTPUTS = ["mode", "keyId", "ipsecAlgorithm", "ipsecSecretProtected", "release", "ipsecKeyAdopted"] as const;

/** The state from the stack's last outputs; anything of the wrong type counts as absent. */
export function deployedStateFromOutputs(outputs: Partial<Record<(typeof DEPLOYED_OUTPUTS)[number], unknown>>): DeployedState {
  const { mode, keyId, ipsecAlgorithm, ipsecSecretProtected, release, ipsecKeyAdopted } = outputs;
  const adopted = (release as { adopted?: unknown } | undefined)?.adopted;
  return {
    ...(typeof mode === "string" ? { mode } : {}),
    ...(typeof keyId === "number" ? { keyId } : {}),
    ...(typeof ipsecAlgorithm === "string" ? { ipsecAlgorithm } : {}),
    ...(typeof ipsecSecretProtected === "boolean" ? { ipsecSecretProtected } : {}),
    // Stacks deployed before adoption existed exported a release without the flag: they installed it.
    ...(typeof release === "object" && release !== null ? { release: { adopted: adopted === true } } : {}),
    ...(typeof ipsecKeyAdopted === "boolean" ? { ipsecKeyAdopted } : {}),
  };
}

export function transitionProblems(deployed: DeployedState, settings: Settings): string[] {
  const problems: string[] = [];
  const enc = settings.encryption;
  const runs = deployed.source === "cluster" ? "the cluster runs" : "this stack runs";
  if (deployed.mode !== undefined && deployed.mode !== enc.type) {
    if (!settings.allowModeSwitch) {
      problems.push(
        `${PROJECT}:encryption.type: ${runs} ${deployed.mode}; switching to ${enc.type} in place has broken clusters ` +
          `(cilium/cilium#44691: node flapping and lost connectivity). Plan a maintenance window, set ` +
          `${PROJECT}:encryption.allowModeSwitch to true with encryption.type still ${deployed.mode}, run pulumi up, then change encryption.type`,
      );
    } else if (deployed.ipsecSecretProtected === true) {
      problems.push(
        `${PROJECT}:encryption.type: the IPsec secret is still protected from deletion; run pulumi up once with ` +
          `encryption.allowModeSwitch true and encryption.type ${deployed.mode} to lift that, then change encryption.type`,
      );
    }
  }
  if (enc.type === "ipsec" && deployed.mode === "ipsec") {
    if (deployed.keyId !== undefined && enc.keyId !== deployed.keyId && enc.keyId !== nextKeyId(deployed.keyId)) {
      problems.push(
        `${PROJECT}:encryption.ipsec.keyId: the deployed key id is ${deployed.keyId}; allowed: ${deployed.keyId} (keep the key) ` +
          `or ${nextKeyId(deployed.keyId)} (rotate; ids increase by one and wrap from 15 to 1)`,
      );
    }
    if (deployed.ipsecAlgorithm !== undefined && enc.algorithm !== deployed.ipsecAlgorithm) {
      problems.push(
        `${PROJECT}:encryption.ipsec.algorithm: the deployed algorithm is ${deployed.ipsecAlgorithm}; Cilium rejects key rotations ` +
          `that change the key length and mixes algorithms while old and new keys coexist, so it cannot change on a live stack`,
      );
    }
  }
  return problems;
}
