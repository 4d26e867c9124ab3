/**
 * Stack files with secret config, for tests without a Pulumi CLI: `{secure: "fake:<text>"}` stands for
 * a ciphertext of <text>, and `fakeEngine` reads such a file as `pulumi config --show-secrets --json`
 * would (a secret anywhere under a key marks the whole key, objects as JSON text).
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import type { ConfigEngine } from "../../config/stackFile";

export const fakeSecure = (text: string) => ({ secure: `fake:${text}` });

function reveal(value: unknown, found: { secure: boolean }): unknown {
  if (Array.isArray(value)) return value.map((v) => reveal(v, found));
  if (typeof value !== "object" || value === null) return value;
  const entries = Object.entries(value);
  if (entries.length === 1 && entries[0]![0] === "secure") {
    found.secure = true;
    const text = String(entries[0]![1]);
    if (!text.startsWith("fake:")) throw new Error("fakeEngine decrypts fake:… only");
    return text.slice("fake:".length);
  }
  return Object.fromEntries(entries.map(([k, v]) => [k, reveal(v, found)]));
}

export const fakeEngine: ConfigEngine = async (projectDir, stack) => {
  const doc = (parse(readFileSync(join(projectDir, `Pulumi.${stack}.yaml`), "utf8")) ?? {}) as { config?: Record<string, unknown> };
  const config: Record<string, string> = {};
  const secretKeys = new Set<string>();
  for (const [key, raw] of Object.entries(doc.config ?? {})) {
    const found = { secure: false };
    const value = reveal(raw, found);
    config[key] = typeof value === "string" ? value : JSON.stringify(value);
    if (found.secure) secretKeys.add(key);
  }
  return { config, secretKeys };
};

/** A project directory holding one stack file with this config (keys without a namespace get the project's). */
export function projectWithStack(stack: string, config: Record<string, unknown>, extra: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "stack-config-"));
  const namespaced = Object.fromEntries(Object.entries(config).map(([k, v]) => [k.includes(":") ? k : `cilium-encryption:${k}`, v]));
  writeFileSync(join(dir, `Pulumi.${stack}.yaml`), stringify({ ...extra, config: namespaced }));
  return dir;
}
