/**
 * Config marked secret, on the real engine: a stack whose `cilium` config holds a private key among
 * its Helm values and whose `cluster` config is secret, both set with `pulumi config set --secret
 * --path` as a user would. A preview with the diff (what the pull request's comment shows), up, a
 * preview with refresh, an out-of-band `helm upgrade` and the drift command: the marker never appears
 * in plain text or base64 in the state backend, the engine's events or anything printed, while the
 * value really reaches the release.
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { PROJECT } from "../../config/settings";
import { backendText, clearAgentFaults, helm, helmUpgradeOutOfBand, kubeconfig, newStack, PROJECT_DIR, stackConfig, type TestStack } from "./harness";

const NAMESPACE = "ns-secret-config";
const RELEASE = "kubernetes:helm.sh/v3:Release";
/** Test data standing for a secret: in the chart values and in the kubeconfig path. */
const MARKER = `secretval${process.pid}x${Date.now().toString(36)}`;
/** A Hubble server key the chart ignores while hubble.tls.auto is on (its default), as users keep in their values. */
const KEY_PATH = "cilium.values.hubble.tls.server.key";
const scratch = mkdtempSync(join(tmpdir(), "secret-config-"));
const secretKubeconfig = join(scratch, `kubeconfig-${MARKER}`);

let t: TestStack;
/** Everything the drift command printed, stdout and stderr. */
const driftOutput: string[] = [];

/** The marker base64-encoded at each of the three byte offsets it can have inside longer encoded data. */
function base64Forms(marker: string): string[] {
  return [0, 1, 2].map((offset) =>
    Buffer.from("x".repeat(offset) + marker)
      .toString("base64")
      .slice(offset === 0 ? 0 : 4, -4),
  );
}

function pulumiConfigSetSecret(key: string, value: string): void {
  execFileSync("pulumi", ["config", "set", "--secret", "--path", "--stack", t.name, `${PROJECT}:${key}`], {
    cwd: PROJECT_DIR,
    input: value,
    stdio: ["pipe", "ignore", "pipe"],
  });
}

function drift(...flags: string[]): { code: number; report: any; out: string } {
  const run = spawnSync(process.execPath, ["--import", "tsx", "drift/main.ts", "--stack", t.name, "--json", ...flags], {
    cwd: PROJECT_DIR,
    encoding: "utf8",
    env: process.env,
  });
  const out = `${run.stdout}${run.stderr}`;
  driftOutput.push(out);
  return { code: run.status ?? -1, report: JSON.parse(run.stdout), out };
}

const previewWithDiff = (refresh: boolean) =>
  t.stack.preview({ diff: true, refresh, onEvent: (e: EngineEvent) => t.events.push(e), onOutput: (o) => t.output.push(o), color: "never" });

/** Whether Helm's values for the release hold `expected`; a boolean, so that a failed assertion never prints the value. */
const helmHolds = (expected: string) =>
  JSON.parse(helm("get", "values", "cilium", "--namespace", NAMESPACE, "--output", "json")).hubble?.tls?.server?.key === expected;

describe("config marked secret", () => {
  before(async () => {
    clearAgentFaults();
    copyFileSync(kubeconfig(), secretKubeconfig);
    const { cluster: _ambient, ...config } = stackConfig(
      NAMESPACE,
      { type: "ipsec", ipsec: { keyId: 1, keyRotationDuration: "1m" } },
      { verification: { timeout: "3m", wireCheck: false } },
    );
    t = await newStack("secret-config", config);
    pulumiConfigSetSecret(KEY_PATH, MARKER);
    pulumiConfigSetSecret("cluster.kubeconfig", secretKubeconfig);
    const file = readFileSync(join(PROJECT_DIR, `Pulumi.${t.name}.yaml`), "utf8");
    assert.ok(!file.includes(MARKER), "the stack file holds the values encrypted");
    assert.match(file, /secure:/);
  });

  after(async () => {
    await t?.remove();
    rmSync(scratch, { recursive: true, force: true });
  });

  it("a preview with the diff, as the pull request's comment shows it, shows the release's values as [secret]", async () => {
    await previewWithDiff(false);
    assert.match(t.output.join(""), /values\s*:\s*\[secret\]/);
  });

  it("up installs the release with the value, and a preview with refresh changes nothing", async () => {
    const result = await t.up();
    assert.equal(result.summary.result, "succeeded");
    assert.ok(helmHolds(MARKER), "the value did not reach the release");
    const again = await previewWithDiff(true);
    assert.equal(again.changeSummary.update ?? 0, 0, JSON.stringify(again.changeSummary));
  });

  it("drift: clean is exit 0; an out-of-band change of the values is exit 2, the release named, the value masked", async () => {
    const clean = drift();
    assert.equal(clean.code, 0, clean.out);
    helmUpgradeOutOfBand(NAMESPACE, (values) => (values.hubble.tls.server.key = `${MARKER}-rotated`));
    const changed = drift();
    assert.equal(changed.code, 2, changed.out);
    const release = changed.report.drifted.find((r: any) => r.type === RELEASE);
    assert.ok(release, changed.out);
    assert.ok(release.fields.length > 0, changed.out);
    assert.ok(
      release.fields.every((f: any) => !f.path.startsWith("values") || (f.secret === true && !("before" in f) && !("after" in f))),
      changed.out,
    );
    await t.up({ refresh: true });
    assert.ok(helmHolds(MARKER), "up --refresh did not put the stack's value back");
    const restored = drift("--verify", "--wire-check", "off");
    assert.equal(restored.code, 0, restored.out);
  });

  it("the marker appears nowhere in plain text or base64: state backend, engine events, printed output", () => {
    assert.ok(
      t.events.some((e) => e.resOutputsEvent?.metadata.type === RELEASE),
      "the events hold the release's outputs",
    );
    const places: Record<string, string> = {
      "state backend": backendText(),
      "engine events": t.events.map((e) => JSON.stringify(e)).join("\n"),
      "engine output": t.output.join(""),
      "drift output": driftOutput.join("\n"),
    };
    for (const [where, text] of Object.entries(places)) {
      assert.ok(text.length > 0, `${where}: nothing captured`);
      for (const form of [MARKER, ...base64Forms(MARKER)]) {
        const at = text.indexOf(form);
        // The marker is test data, not a secret: show where it sits.
        assert.equal(at, -1, `${form} in plain text in ${where}: …${text.slice(Math.max(0, at - 160), at + 60)}…`);
      }
    }
  });
});
