/**
 * `npm run rotate -- --stack <name>` (`--help` for usage): bumps the stack's IPsec key id (15 wraps to 1) in
 * Pulumi.<stack>.yaml, keeping the file's comments and layout, and says what the next `pulumi up` does.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { isMap, isScalar, parseDocument } from "yaml";
import { hostEnv } from "../config/files";
import { IPSEC_SECRET_NAME, PROJECT, parseSettings } from "../config/settings";
import { type ConfigEngine, loadStackConfig, stackFilePath } from "../config/stackFile";
import { nextKeyId, pskBytes } from "../encryption/keyLine";

const KEY_ID = "encryption.ipsec.keyId";

/**
 * Why rotate cannot edit the key id in the stack file, if it cannot: `encryption` is one secret (the
 * file holds ciphertext only the Pulumi CLI writes), or the key id is set elsewhere (the project file
 * or an ESC environment; writing part of `encryption` into the stack file would hide the rest of it).
 * A key id secret on its own never gets here: decrypted, it is a string, which the config refuses.
 */
export function keyIdProblem(text: string): string | undefined {
  const doc = parseDocument(text);
  const encryption = doc.getIn(["config", `${PROJECT}:encryption`], true);
  const node = doc.getIn(["config", `${PROJECT}:encryption`, "ipsec", "keyId"], true);
  const secretHint = `set it with \`pulumi config set --secret --path ${KEY_ID} <id>\` (the next id; 15 wraps to 1)`;
  if (isMap(encryption) && encryption.items.length === 1 && isScalar(encryption.items[0]!.key) && encryption.items[0]!.key.value === "secure") {
    return `${PROJECT}:encryption is one secret value in the stack file, so rotate cannot edit ${KEY_ID} inside it; ${secretHint}`;
  }
  if (!isScalar(node) || typeof node.value !== "number") {
    return `${PROJECT}:${KEY_ID} is not a number in the stack file (set in the project file or an ESC environment?); rotate edits the stack file only: set it there`;
  }
  return undefined;
}

export async function rotate(projectDir: string, stack: string, engine?: ConfigEngine): Promise<string> {
  const { config, secretKeys } = await loadStackConfig(projectDir, stack, engine);
  const settings = parseSettings(config, { ...hostEnv(secretKeys), cwd: projectDir });
  const enc = settings.encryption;
  if (enc.type !== "ipsec") {
    throw new Error(`stack ${stack} uses ${enc.type}; only IPsec has a shared key to rotate (WireGuard nodes rotate their own keys)`);
  }
  const path = stackFilePath(projectDir, stack);
  const text = readFileSync(path, "utf8");
  const problem = keyIdProblem(text);
  if (problem !== undefined) throw new Error(problem);
  const next = nextKeyId(enc.keyId);
  const doc = parseDocument(text);
  doc.setIn(["config", `${PROJECT}:encryption`, "ipsec", "keyId"], next);
  writeFileSync(path, doc.toString());
  // The key id is plain in the file (checked above); the rest of a key the user marked secret is named, not shown.
  const secret = (top: string) => secretKeys.has(`${PROJECT}:${top}`);
  const psk = secret("encryption") ? "PSK" : `${pskBytes(enc.algorithm)}-byte PSK (${enc.algorithm})`;
  const target = secret("cilium") ? `${IPSEC_SECRET_NAME} in cilium.namespace` : `${settings.cilium.namespace}/${IPSEC_SECRET_NAME}`;
  const keep = secret("encryption") ? "encryption.ipsec.keyRotationDuration" : enc.keyRotationDuration;
  return [
    `${stack}: ${KEY_ID} ${enc.keyId} → ${next} in ${path}`,
    `The next \`pulumi up --stack ${stack}\` will generate a new ${psk},`,
    `update ${target} in place with key id ${next}, and re-run the verification, which waits until the`,
    `agents have settled on the new key (they keep the old one for ${keep}).`,
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

async function main(argv: string[]): Promise<number> {
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
    console.log(await rotate(process.cwd(), command.stack));
    return 0;
  } catch (e) {
    console.error(`rotate: ${(e as Error).message}`);
    return 1;
  }
}

if (require.main === module) void main(process.argv.slice(2)).then((code) => (process.exitCode = code));
