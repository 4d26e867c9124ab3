/**
 * The drift and rotate commands as CLIs: --help prints the usage on stdout with exit 0, a bad flag
 * prints the reason and the usage on stderr with exit 1 and nothing on stdout (no JSON dump).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, describe, it } from "node:test";
import { USAGE as DRIFT_USAGE, parseDriftArgs } from "../../drift/main";
import { parseRotateArgs, USAGE as ROTATE_USAGE } from "../../scripts/rotate";
import { fakeSecure, projectWithStack } from "./fakeEngine";

const PROJECT_DIR = resolve(__dirname, "../..");

function run(script: string, args: string[]) {
  const r = spawnSync(process.execPath, ["--import", "tsx", script, ...args], { cwd: PROJECT_DIR, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const BAD_FLAGS: Array<{ args: string[]; reason: RegExp }> = [
  { args: ["--stack", "dev", "--nope"], reason: /Unknown option '--nope'/ },
  { args: ["--stack"], reason: /argument missing/ },
  { args: ["--stack", "--json"], reason: /ambiguous/ },
  { args: ["dev"], reason: /Unexpected argument 'dev'/ },
  { args: ["--stack", ""], reason: /--stack <name> is required/ },
  { args: [], reason: /--stack <name> is required/ },
  { args: ["-x"], reason: /Unknown option '-x'/ },
];

describe("drift arguments", () => {
  it("reads --stack, --json and --verify in any order and either spelling", () => {
    assert.deepEqual(parseDriftArgs(["--verify", "--stack=prod", "--json"]), { help: false, stack: "prod", json: true, verify: true, wireCheck: null });
    assert.deepEqual(parseDriftArgs(["--stack", "dev"]), { help: false, stack: "dev", json: false, verify: false, wireCheck: null });
    assert.deepEqual(parseDriftArgs(["--stack", "dev", "--verify", "--wire-check", "off"]), {
      help: false,
      stack: "dev",
      json: false,
      verify: true,
      wireCheck: "off",
    });
  });

  it("--help and -h win over everything else, even a bad stack", () => {
    for (const args of [["--help"], ["-h"], ["--stack", "dev", "--help"], ["--json", "-h"]]) assert.deepEqual(parseDriftArgs(args), { help: true });
  });

  for (const { args, reason } of BAD_FLAGS.filter((b) => b.args[0] !== "-x")) {
    it(`refuses ${JSON.stringify(args)}`, () => assert.throws(() => parseDriftArgs(args), reason));
  }
  it("refuses a flag of the rotate command only", () => assert.throws(() => parseDriftArgs(["--stack", "dev", "--key-id", "2"]), /Unknown option '--key-id'/));
  it("refuses --wire-check without --verify, and any value but on or off", () => {
    assert.throws(() => parseDriftArgs(["--stack", "dev", "--wire-check", "off"]), /--wire-check applies to --verify only/);
    assert.throws(() => parseDriftArgs(["--stack", "dev", "--verify", "--wire-check", "no"]), /--wire-check must be on or off; got "no"/);
  });
});

describe("rotate arguments", () => {
  it("reads --stack", () => {
    assert.deepEqual(parseRotateArgs(["--stack", "dev"]), { help: false, stack: "dev" });
    assert.deepEqual(parseRotateArgs(["--stack=dev"]), { help: false, stack: "dev" });
  });
  it("--help and -h", () => {
    for (const args of [["--help"], ["-h"], ["--stack", "dev", "-h"]]) assert.deepEqual(parseRotateArgs(args), { help: true });
  });
  for (const { args, reason } of BAD_FLAGS) {
    it(`refuses ${JSON.stringify(args)}`, () => assert.throws(() => parseRotateArgs(args), reason));
  }
  it("refuses a flag of the drift command", () => assert.throws(() => parseRotateArgs(["--stack", "dev", "--json"]), /Unknown option '--json'/));
});

const COMMANDS = [
  { name: "drift", script: "drift/main.ts", usage: DRIFT_USAGE },
  { name: "rotate", script: "scripts/rotate.ts", usage: ROTATE_USAGE },
];

for (const { name, script, usage } of COMMANDS) {
  describe(`${name} command line`, () => {
    it("--help prints the usage on stdout and exits 0", () => {
      const r = run(script, ["--help"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), usage);
      assert.equal(r.stderr, "");
    });

    it("a bad flag prints the reason and the usage on stderr, nothing on stdout, exit 1", () => {
      const r = run(script, ["--stack", "dev", "--json-output"]);
      assert.equal(r.code, 1);
      assert.equal(r.stdout, "", "no report on a usage error");
      assert.match(r.stderr, new RegExp(`^${name}: Unknown option '--json-output'`));
      assert.ok(r.stderr.includes(usage), r.stderr);
    });
  });
}

describe("drift and rotate without the Pulumi CLI", () => {
  // Only node on PATH: no pulumi, no kubectl.
  const bin = mkdtempSync(join(tmpdir(), "only-node-"));
  symlinkSync(process.execPath, join(bin, "node"));
  after(() => rmSync(bin, { recursive: true, force: true }));
  const bare = (script: string, args: string[], cwd = PROJECT_DIR) => {
    const r = spawnSync(process.execPath, ["--import", "tsx", join(PROJECT_DIR, script), ...args], {
      cwd,
      encoding: "utf8",
      env: { ...process.env, PATH: bin },
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  it("drift says what to install, in text and JSON, exit 1, no stack trace", () => {
    const text = bare("drift/main.ts", ["--stack", "dev"]);
    assert.equal(text.code, 1, text.stderr);
    assert.equal(text.stdout.trim(), "stack dev: drift check failed: pulumi is not on PATH; install the Pulumi CLI");
    const json = bare("drift/main.ts", ["--stack", "dev", "--json"]);
    assert.deepEqual(JSON.parse(json.stdout), {
      stack: "dev",
      error: "stack dev: drift check failed: pulumi is not on PATH; install the Pulumi CLI",
      exitCode: 1,
    });
    assert.ok(!/\n\s+at /.test(text.stdout + text.stderr + json.stderr), text.stderr);
  });

  it("rotate of a stack with secret config says what to install, exit 1, no stack trace, the file untouched", () => {
    const dir = projectWithStack("s", { encryption: { type: "ipsec", ipsec: { keyId: 1 } }, cluster: { context: fakeSecure("c") } });
    symlinkSync(join(PROJECT_DIR, "node_modules"), join(dir, "node_modules"));
    const before = readFileSync(join(dir, "Pulumi.s.yaml"), "utf8");
    const r = bare("scripts/rotate.ts", ["--stack", "s"], dir);
    assert.equal(r.code, 1, r.stderr);
    assert.equal(
      r.stderr.trim(),
      "rotate: stack s: reading its config with the Pulumi CLI: pulumi is not on PATH; install the Pulumi CLI (it decrypts secret config with the stack's secrets provider)",
    );
    assert.equal(readFileSync(join(dir, "Pulumi.s.yaml"), "utf8"), before);
  });
});
