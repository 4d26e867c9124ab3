/**
 * Reads a stack's config outside a Pulumi run (verify, rotate and drift commands, tests) into the same
 * shape the runtime hands the program, with the keys the user marked secret, so the one config parser
 * serves them all. A stack file that is all there is to the config is read as it is; anything only
 * the engine can resolve (secret values, whatever the secrets provider; ESC environments; project
 * config) is read through the Pulumi CLI, as `pulumi up` resolves it. Decrypted values stay in this
 * process: never printed, logged, or put on a command line.
 */
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";

export interface StackConfig {
  /** `<namespace>:<key>` → value as Pulumi passes it to programs (objects and numbers as JSON text). */
  config: Record<string, string>;
  /** Keys holding a secret anywhere inside, as the engine tells the program (a `--secret --path` value marks its whole key). */
  secretKeys: ReadonlySet<string>;
}

/** Reads the config the way `pulumi up` would; a test gives a fake one. */
export type ConfigEngine = (projectDir: string, stack: string) => Promise<StackConfig>;

export function stackFilePath(projectDir: string, stack: string): string {
  if (!/^[\w.-]+$/.test(stack)) throw new Error(`${JSON.stringify(stack)} is not a stack name (letters, digits, _ . -)`);
  return join(projectDir, `Pulumi.${stack}.yaml`);
}

function readYaml(path: string): Record<string, unknown> {
  return (parse(readFileSync(path, "utf8")) ?? {}) as Record<string, unknown>;
}

/** Pulumi stores a secret as `{secure: <ciphertext>}`, at the top of a key or anywhere under it (`--path`). */
function holdsSecure(value: unknown): boolean {
  if (Array.isArray(value)) return value.some(holdsSecure);
  if (typeof value !== "object" || value === null) return false;
  const entries = Object.entries(value);
  if (entries.length === 1 && entries[0]![0] === "secure" && typeof entries[0]![1] === "string") return true;
  return entries.some(([, v]) => holdsSecure(v));
}

/**
 * The stack file's config, or why only the engine can tell the stack's config: secret values it
 * cannot decrypt itself, ESC environments the stack imports, config the project file sets.
 */
export function plainStackConfig(projectDir: string, stack: string): StackConfig | { engine: string } {
  const path = stackFilePath(projectDir, stack);
  let doc: Record<string, unknown>;
  try {
    doc = readYaml(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") throw new Error(`no stack file ${path}`);
    throw new Error(`cannot read ${path}: ${(e as Error).message}`);
  }
  const config = (doc.config ?? {}) as Record<string, unknown>;
  const secret = Object.keys(config).filter((k) => holdsSecure(config[k]));
  if (secret.length > 0) return { engine: `${path} holds secret values (${secret.join(", ")})` };
  if (doc.environment !== undefined) return { engine: `${path} imports ESC environments` };
  const project = join(projectDir, "Pulumi.yaml");
  if (existsSync(project) && readYaml(project).config !== undefined) return { engine: `${project} sets config` };
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(config)) out[k] = typeof v === "string" ? v : JSON.stringify(v);
  return { config: out, secretKeys: new Set() };
}

/** The stack file's config, for callers with no engine (tests); a stack only the engine can read is an error. */
export function readStackConfig(projectDir: string, stack: string): Record<string, string> {
  const plain = plainStackConfig(projectDir, stack);
  if ("engine" in plain) throw new Error(`${plain.engine}: only the Pulumi CLI can read this stack's config`);
  return plain.config;
}

/** The stack's config as the engine hands it to the program: the file alone when it is all there is, else the Pulumi CLI. */
export async function loadStackConfig(projectDir: string, stack: string, engine: ConfigEngine = pulumiCliConfig): Promise<StackConfig> {
  const plain = plainStackConfig(projectDir, stack);
  return "engine" in plain ? engine(projectDir, stack) : plain;
}

/**
 * `pulumi config --show-secrets --json` output → config and secret keys. Nothing of the text goes
 * into an error: it holds the decrypted values.
 */
export function parseEngineConfig(stdout: string): StackConfig {
  let doc: unknown;
  try {
    doc = JSON.parse(stdout);
  } catch {
    throw new Error("the Pulumi CLI printed config that is not JSON");
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) throw new Error("the Pulumi CLI printed config that is not a JSON object");
  const config: Record<string, string> = {};
  const secretKeys = new Set<string>();
  for (const [key, entry] of Object.entries(doc as Record<string, { value?: unknown; secret?: unknown }>)) {
    if (typeof entry?.value !== "string") throw new Error(`the Pulumi CLI gave no value for ${key}`);
    config[key] = entry.value;
    if (entry.secret === true) secretKeys.add(key);
  }
  return { config, secretKeys };
}

/** The engine's own reasons ("error: …" lines), without the CLI's usage noise; they hold no config value. */
export function cliErrorLines(stderr: string): string {
  const lines = stderr.split("\n").map((l) => l.trim());
  const errors = lines.filter((l) => l.startsWith("error: "));
  return [...new Set(errors.length > 0 ? errors : lines.filter((l) => l !== "").slice(-3))].join("; ");
}

/** Up to 2 minutes: a cloud backend or KMS may be slow, but a hung CLI must not hang a scheduled job. */
const CLI_TIMEOUT_MS = 120_000;

/**
 * Reads the config with `pulumi config --show-secrets --json` (what the Automation API's
 * `getAllConfig` runs): every secrets provider works as in `pulumi up`, and the values arrive on a
 * pipe, not on a command line. No terminal for a passphrase prompt: the CLI then asks for the
 * passphrase's environment variables instead.
 */
export const pulumiCliConfig: ConfigEngine = (projectDir, stack) =>
  new Promise((resolve, reject) => {
    const env = { ...process.env, PULUMI_SKIP_UPDATE_CHECK: "true" };
    const child = execFile(
      "pulumi",
      ["config", "--show-secrets", "--json", "--stack", stack],
      { cwd: projectDir, env, timeout: CLI_TIMEOUT_MS, maxBuffer: 256 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const where = `stack ${stack}: reading its config with the Pulumi CLI`;
        if (error === null) {
          try {
            resolve(parseEngineConfig(stdout));
          } catch (e) {
            reject(new Error(`${where}: ${(e as Error).message}`));
          }
          return;
        }
        if ((error as NodeJS.ErrnoException).code === "ENOENT") {
          reject(new Error(`${where}: pulumi is not on PATH; install the Pulumi CLI (it decrypts secret config with the stack's secrets provider)`));
        } else if (error.killed) {
          reject(new Error(`${where}: no answer within ${CLI_TIMEOUT_MS / 1000} s`));
        } else {
          reject(new Error(`${where}: ${cliErrorLines(stderr)}`));
        }
      },
    );
    child.stdin?.end();
  });
