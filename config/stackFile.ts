/**
 * Reads `Pulumi.<stack>.yaml` outside a Pulumi run (verify, rotate and drift commands, tests) into the
 * same shape the runtime hands the program, so the one config parser serves them all.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";

export function stackFilePath(projectDir: string, stack: string): string {
  if (!/^[\w.-]+$/.test(stack)) throw new Error(`${JSON.stringify(stack)} is not a stack name (letters, digits, _ . -)`);
  return join(projectDir, `Pulumi.${stack}.yaml`);
}

/** `<namespace>:<key>` → value as Pulumi passes it to programs (objects and numbers as JSON text). */
export function readStackConfig(projectDir: string, stack: string): Record<string, string> {
  const path = stackFilePath(projectDir, stack);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new Error(`no stack file ${path}`);
  }
  const doc = (parse(text) ?? {}) as { config?: Record<string, unknown> };
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(doc.config ?? {})) out[k] = typeof v === "string" ? v : JSON.stringify(v);
  return out;
}
