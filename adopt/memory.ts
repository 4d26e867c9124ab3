/** What this stack's last successful update exported, read through a reference to the stack itself. */
import * as pulumi from "@pulumi/pulumi";
import { DEPLOYED_OUTPUTS, type DeployedState, deployedStateFromOutputs } from "../config/transitions";

export async function readDeployedState(): Promise<DeployedState> {
  const self = new pulumi.StackReference(`${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`);
  const values = await Promise.all(DEPLOYED_OUTPUTS.map(async (name) => [name, (await self.getOutputDetails(name)).value] as const));
  return deployedStateFromOutputs(Object.fromEntries(values));
}
