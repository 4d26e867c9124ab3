/** The bridge between the Pulumi runtime and the pure config modules. */
import * as pulumi from "@pulumi/pulumi";
import { hostEnv } from "./files";
import { ConfigError, isKubeconfigContents, parseSettings, type Settings } from "./settings";

/**
 * Config keys the user set with `--secret`. The SDK knows them (the language host passes
 * PULUMI_CONFIG_SECRET_KEYS) but marks the lookup internal; without it secret config would be
 * handled as plain text, so its absence stops the program.
 */
function secretConfigKeys(keys: string[]): string[] {
  const isConfigSecret = (pulumi.runtime as unknown as { isConfigSecret?: (key: string) => boolean }).isConfigSecret;
  if (typeof isConfigSecret !== "function") {
    throw new Error(
      "@pulumi/pulumi no longer provides runtime.isConfigSecret, so secret config cannot be kept secret; pin the SDK version this program was tested with",
    );
  }
  return keys.filter((k) => isConfigSecret(k));
}

/** Settings of the running stack; a bad value stops the program before any resource is registered. */
export function loadSettings(): Settings {
  const config = pulumi.runtime.allConfig();
  let settings: Settings;
  try {
    settings = parseSettings(config, hostEnv(secretConfigKeys(Object.keys(config))));
  } catch (e) {
    // RunError prints the message alone, without a stack trace the user cannot act on.
    if (e instanceof ConfigError) throw new pulumi.RunError(e.message);
    throw e;
  }
  for (const warning of settings.warnings) void pulumi.log.warn(warning);
  return settings;
}

/**
 * The Kubernetes provider's connection inputs. Secret config stays a secret Output, and inline
 * kubeconfig contents always are one (they hold credentials).
 */
export function clusterProviderArgs(settings: Settings): { kubeconfig?: pulumi.Input<string>; context?: pulumi.Input<string> } {
  const { kubeconfig, context } = settings.cluster;
  const wrap = (value: string, secret: boolean) => (secret ? pulumi.secret(value) : value);
  return {
    ...(kubeconfig === undefined ? {} : { kubeconfig: wrap(kubeconfig, settings.clusterIsSecret || isKubeconfigContents(kubeconfig)) }),
    ...(context === undefined ? {} : { context: wrap(context, settings.clusterIsSecret) }),
  };
}
