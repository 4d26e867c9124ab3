import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { readLiveCluster } from "./adopt/cluster";
import { readDeployedState } from "./adopt/memory";
import { planAdoption } from "./adopt/plan";
import { CiliumRelease } from "./components/ciliumRelease";
import { EncryptionVerification } from "./components/encryptionVerification";
import { IpsecKey } from "./components/ipsecKey";
import { IPSEC_KEY_FILE, IPSEC_SECRET_NAME } from "./config/settings";
import { clusterProviderArgs, loadSettings } from "./config/stack";
import { transitionProblems } from "./config/transitions";
import { redactSdkDebugLog } from "./runtime/logRedaction";
import { invocationFromSettings } from "./verifier/invocation";

export = async () => {
  redactSdkDebugLog();
  const settings = loadSettings();
  // Whatever Cilium the cluster already runs decides between install, adoption and refusal, and on the
  // adopting run it stands in for the stack's last outputs in the rules for changing a live cluster.
  const [deployed, live] = await Promise.all([readDeployedState(), readLiveCluster(settings)]);
  const plan = planAdoption(settings, deployed, live);
  const problems = [...plan.problems, ...transitionProblems(plan.deployed, settings)];
  if (problems.length > 0) throw new pulumi.RunError(`refusing this change:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
  const { encryption, cilium, verification } = settings;

  // Secrets must be mutable in place so that a key rotation never deletes the Secret agents read.
  const provider = new k8s.Provider("k8s", { ...clusterProviderArgs(settings), enableSecretMutable: true });

  const ipsec =
    encryption.type === "ipsec"
      ? new IpsecKey(
          "ipsec-key",
          {
            namespace: cilium.namespace,
            secretName: IPSEC_SECRET_NAME,
            keyFile: IPSEC_KEY_FILE,
            keyId: encryption.keyId,
            algorithm: encryption.algorithm,
            protect: !settings.allowModeSwitch,
            ...(plan.key?.adopted === true ? { adoptedLine: plan.key.line } : {}),
            retainOnDelete: plan.release.adopted,
          },
          { providers: [provider] },
        )
      : undefined;

  const release = new CiliumRelease(
    "cilium",
    {
      releaseName: cilium.releaseName,
      namespace: cilium.namespace,
      version: cilium.version,
      chart: cilium.chart,
      values: plan.release.values,
      adopted: plan.release.adopted,
      // The values carry the stack's cilium.values and the encryption values made from its encryption config.
      secretConfig: { values: settings.secretKeys.has("cilium") || settings.secretKeys.has("encryption"), chart: settings.secretKeys.has("cilium") },
      ...(plan.release.importId === undefined ? {} : { importId: plan.release.importId }),
      allowNullValues: plan.release.allowNullValues,
      notes: plan.notes,
      timeoutSeconds: verification.timeoutSeconds,
    },
    { providers: [provider], dependsOn: ipsec === undefined ? [] : [ipsec] },
  );

  const verify = verification.enabled
    ? new EncryptionVerification(
        "verification",
        {
          verifier: invocationFromSettings(settings),
          connectionIsSecret: settings.clusterIsSecret,
          triggers: [release.revision, encryption.type, encryption.type === "ipsec" ? encryption.keyId : 0],
        },
        { dependsOn: ipsec === undefined ? [release] : [release, ipsec] },
      )
    : undefined;

  // Only what applies to the mode: an undefined output draws an engine warning on every run.
  return {
    mode: encryption.type,
    ...(encryption.type === "ipsec" && ipsec !== undefined
      ? {
          keyId: encryption.keyId,
          ipsecAlgorithm: encryption.algorithm,
          ipsecSecretProtected: !settings.allowModeSwitch,
          ipsecKeyAdopted: plan.key?.adopted === true,
          secretName: ipsec.secretName,
        }
      : {}),
    release: {
      name: release.name,
      namespace: release.namespace,
      revision: release.revision,
      status: release.status,
      chartVersion: release.chartVersion,
      adopted: release.adopted,
    },
    ...(verify === undefined ? {} : { verification: verify.report }),
  };
};
