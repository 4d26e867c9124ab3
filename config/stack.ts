/** The bridge between the Pulumi runtime and the pure config modules. */
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, parseSettings, type Settings } from "./settings";
import { transitionProblems, type DeployedState } from "./transitions";

/** Settings of the running stack; a bad value stops the program before any resource is registered. */
export function loadSettings(): Settings {
  try {
    return parseSettings(pulumi.runtime.allConfig());
  } catch (e) {
    // RunError prints the message alone, without a stack trace the user cannot act on.
    if (e instanceof ConfigError) throw new pulumi.RunError(e.message);
    throw e;
  }
}

/** Outputs of this stack's last update, read through a reference to itself. */
async function deployedState(): Promise<DeployedState> {
  const self = new pulumi.StackReference(`${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`);
  const read = async (name: string) => (await self.getOutputDetails(name)).value as unknown;
  const [mode, keyId, ipsecAlgorithm, ipsecSecretProtected] = await Promise.all(
    ["mode", "keyId", "ipsecAlgorithm", "ipsecSecretProtected"].map(read),
  );
  return {
    ...(typeof mode === "string" ? { mode } : {}),
    ...(typeof keyId === "number" ? { keyId } : {}),
    ...(typeof ipsecAlgorithm === "string" ? { ipsecAlgorithm } : {}),
    ...(typeof ipsecSecretProtected === "boolean" ? { ipsecSecretProtected } : {}),
  };
}

/** Refuses changes that break a live cluster (mode switch, key id jumps, algorithm change). */
export async function checkTransitions(settings: Settings): Promise<void> {
  const problems = transitionProblems(await deployedState(), settings);
  if (problems.length > 0) throw new pulumi.RunError(`refusing this change:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
}
