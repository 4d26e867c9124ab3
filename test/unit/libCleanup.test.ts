/**
 * scripts/lib.sh exit cleanups with hostile paths: a checkout and a $TMPDIR whose names hold quotes,
 * spaces, $, ; and a would-be command. Each cleanup must get its arguments byte for byte, run last
 * registered first, whatever way the shell exits, and never run anything the path spells out.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, describe, it } from "node:test";

const LIB = resolve(__dirname, "../../scripts/lib.sh");
/** Everything a path may hold that once broke `eval`: both quotes, spaces, $, ;, a backtick, a glob. */
const HOSTILE = `it's a "dir" $HOME; touch PWNED; \`touch PWNED2\` *`;

const root = mkdtempSync(join(tmpdir(), "lib-cleanup-"));
after(() => rmSync(root, { recursive: true, force: true }));

/** A checkout at a hostile path: lib.sh itself and a toolchain/cluster.sh that records its arguments. */
function checkout(): { dir: string; tmp: string } {
  const base = mkdtempSync(join(root, "case-"));
  const dir = join(base, `checkout ${HOSTILE}`);
  const tmp = join(base, `tmp ${HOSTILE}`);
  mkdirSync(join(dir, "scripts"), { recursive: true });
  mkdirSync(join(dir, "toolchain"));
  mkdirSync(tmp);
  copyFileSync(LIB, join(dir, "scripts/lib.sh"));
  // NUL-separated, so any byte of an argument survives the round trip.
  writeFileSync(join(dir, "toolchain/cluster.sh"), `printf '%s\\0' cluster.sh "$@" >> "$RECORD"\n`);
  return { dir, tmp };
}

function run(dir: string, tmp: string, script: string) {
  const record = join(root, `record-${Math.random().toString(36).slice(2)}`);
  writeFileSync(record, "");
  const r = spawnSync("bash", ["-c", `set -euo pipefail\nsource scripts/lib.sh\n${script}`], {
    cwd: dir,
    encoding: "utf8",
    env: { PATH: process.env.PATH, HOME: process.env.HOME, TMPDIR: tmp, RECORD: record },
  });
  const calls = readFileSync(record, "utf8").split("\0").slice(0, -1);
  return { status: r.status, stderr: r.stderr, calls };
}

/** Registered in this order; a helper appends its arguments to the record. */
const REGISTER = `
record() { printf '%s\\0' "$@" >> "$RECORD"; }
work=$(mktemp -d "$TMPDIR/work.XXXXXX")
start_cluster "$work"
at_exit record first "a b" "c'd" '$HOME' ';' ''
at_exit record second
`;

const HOW_TO_EXIT: Record<string, { script: string; status: number }> = {
  "a normal exit": { script: "exit 0", status: 0 },
  "an explicit exit code": { script: "exit 3", status: 3 },
  "a failing command under set -e": { script: "false", status: 1 },
  "SIGTERM": { script: "kill -TERM $$; sleep 5", status: 143 },
};

describe("lib.sh cleanups", () => {
  for (const [how, { script, status }] of Object.entries(HOW_TO_EXIT)) {
    it(`run with every argument intact, newest first, on ${how}`, () => {
      const { dir, tmp } = checkout();
      const r = run(dir, tmp, `${REGISTER}\n${script}`);
      assert.equal(r.status, status, r.stderr);
      const workDir = findWork(r.calls);
      assert.ok(workDir.startsWith(join(tmp, "work.")), `work dir under the hostile TMPDIR: ${workDir}`);
      assert.deepEqual(r.calls, [
        "cluster.sh", "start", `${workDir}/cluster`,
        "second",
        "first", "a b", "c'd", "$HOME", ";", "",
        "cluster.sh", "stop", `${workDir}/cluster`,
      ]);
      assert.ok(!existsSync(workDir), "the work dir was removed");
      assert.ok(existsSync(tmp), "nothing beyond the work dir was removed");
      for (const d of [dir, tmp, root]) {
        assert.ok(!existsSync(join(d, "PWNED")) && !existsSync(join(d, "PWNED2")), `a path was run as a command (in ${d})`);
      }
    });
  }

  it("KEEP_CLUSTER=true registers no cluster cleanup", () => {
    const { dir, tmp } = checkout();
    const r = run(dir, tmp, `KEEP_CLUSTER=true\n${REGISTER}\nexit 0`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.calls.filter((c) => c === "stop").length, 0);
  });

  it("at_exit without a command is refused", () => {
    const { dir, tmp } = checkout();
    const r = run(dir, tmp, "at_exit");
    assert.equal(r.status, 1);
    assert.match(r.stderr, /at_exit: a command is required/);
  });
});

/** The work dir is the argument cluster.sh start got, minus /cluster. */
function findWork(calls: string[]): string {
  const i = calls.indexOf("start");
  return calls[i + 1]!.replace(/\/cluster$/, "");
}
