import * as k8s from "@pulumi/kubernetes";
import { CiliumRelease } from "./components/ciliumRelease";
import { EncryptionVerification } from "./components/encryptionVerification";
import { IpsecKey } from "./components/ipsecKey";
import { encryptionValuesInput, IPSEC_KEY_FILE, IPSEC_SECRET_NAME } from "./config/settings";
import { checkTransitions, clusterProviderArgs, loadSettings } from "./config/stack";
import { redactSdkDebugLog } from "./runtime/logRedaction";
import { invocationFromSettings } from "./verifier/invocation";

export = async () => {
  redactSdkDebugLog();
  const settings = loadSettings();
  await checkTransitions(settings);
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
          },
          { providers: [provider] },
        )
      : undefined;

  const release = new CiliumRelease(
    "cilium",
    {
      namespace: cilium.namespace,
      version: cilium.version,
      chart: cilium.chart,
      encryption: encryptionValuesInput(encryption),
      values: cilium.values,
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

  return {
    mode: encryption.type,
    keyId: encryption.type === "ipsec" ? encryption.keyId : undefined,
    ipsecAlgorithm: encryption.type === "ipsec" ? encryption.algorithm : undefined,
    ipsecSecretProtected: ipsec === undefined ? undefined : !settings.allowModeSwitch,
    secretName: ipsec?.secretName,
    release: { name: release.name, namespace: release.namespace, revision: release.revision, status: release.status, chartVersion: release.chartVersion },
    verification: verify?.report,
  };
};
