/**
 * `npm run rotate -- --stack <name>` (`--help` for usage): bumps the stack's IPsec key id (15 wraps to 1) in
 * Pulumi.<stack>.yaml, keeping the file's comments and layout, and says what the next `pulumi up` does.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { parseDocument } from "yaml";
import { IPSEC_SECRET_NAME, PROJECT, parseSettings } from "../config/settings";
import { readStackConfig, stackFilePath } from "../config/stackFile";
import { nextKeyId, pskBytes } from "../encryption/keyLine";

export function rotate(projectDir: string, stack: string): string {
  const settings = parseSettings(readStackConfig(projectDir, stack));
  const enc = settings.encryption;
  if (enc.type !== "ipsec") {
    throw new Error(`stack ${stack} uses ${enc.type}; only IPsec has a shared key to rotate (WireGuard nodes rotate their own keys)`);
  }
  const next = nextKeyId(enc.keyId);
  const path = stackFilePath(projectDir, stack);
  const doc = parseDocument(readFileSync(path, "utf8"));
  doc.setIn(["config", `${PROJECT}:encryption`, "ipsec", "keyId"], next);
  writeFileSync(path, doc.toString());
  const target = `${settings.cilium.namespace}/${IPSEC_SECRET_NAME}`;
  return [
    `${stack}: encryption.ipsec.keyId ${enc.keyId} → ${next} in ${path}`,
    `The next \`pulumi up --stack ${stack}\` will generate a new ${pskBytes(enc.algorithm)}-byte PSK (${enc.algorithm}),`,
    `update ${target} in place with key id ${next}, and re-run the verification, which waits until the`,
    `agents have settled on the new key (they keep the old one for ${enc.keyRotationDuration}).`,
  ].join("\n");
}

export const USAGE = `usage: npm run rotate -- --stack <name>

Bumps the stack's IPsec key id (15 wraps to 1) in Pulumi.<name>.yaml; the next \`pulumi up\` rotates the key.
  --stack <name>  the stack to rotate (required)
  -h, --help      print this help`;

export class UsageError extends Error {
  override name = "UsageError";
}

export function parseRotateArgs(argv: readonly string[]): { help: true } | { help: false; stack: string } {
  const { values } = asUsageError(() =>
    parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: { stack: { type: "string" }, help: { type: "boolean", short: "h", default: false } },
    }),
  );
  if (values.help) return { help: true };
  if (values.stack === undefined || values.stack.trim() === "") throw new UsageError("--stack <name> is required");
  return { help: false, stack: values.stack };
}

/** parseArgs' own errors (an unknown flag, a missing value) are the user's: reported with the usage. */
function asUsageError<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
}

function main(argv: string[]): number {
  let command: ReturnType<typeof parseRotateArgs>;
  try {
    command = parseRotateArgs(argv);
  } catch (e) {
    console.error(`rotate: ${(e as Error).message}\n\n${USAGE}`);
    return 1;
  }
  if (command.help) {
    console.log(USAGE);
    return 0;
  }
  try {
    console.log(rotate(process.cwd(), command.stack));
    return 0;
  } catch (e) {
    console.error(`rotate: ${(e as Error).message}`);
    return 1;
  }
}

if (require.main === module) process.exitCode = main(process.argv.slice(2));
