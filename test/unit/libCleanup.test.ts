/**
 * scripts/lib.sh exit cleanups with hostile paths: a checkout and a $TMPDIR whose names hold quotes,
 * spaces, $, ; and a would-be command. Each cleanup must get its arguments byte for byte, run last
 * registered first, whatever way the shell exits, and never run anything the path spells out.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, describe, it } from "node:test";

const LIB = resolve(__dirname, "../../scripts/lib.sh");
/** Everything a path may hold that once broke `eval`: both quotes, spaces, $, ;, a backtick, a glob. */
const HOSTILE = `it's a "dir" $HOME; touch PWNED; \`touch PWNED2\` *`;

const root = mkdtempSync(join(tmpdir(), "lib-cleanup-"));
after(() => rmSync(root, { recursive: true, force: true }));

/** The scripts start_cluster runs for the control plane and the agent simulator (`<script> start|stop DIR`). */
const SCRIPTS = ["toolchain/cluster.sh", "test/sim/sim.sh"];
/** Ends each recorded call; NUL separates the fields, so any byte of an argument survives. */
const END = "<end>";

/** A checkout at a hostile path: lib.sh itself, and stand-ins for its scripts that record their arguments. */
function checkout(): { dir: string; tmp: string } {
  const base = mkdtempSync(join(root, "case-"));
  const dir = join(base, `checkout ${HOSTILE}`);
  const tmp = join(base, `tmp ${HOSTILE}`);
  mkdirSync(join(dir, "scripts"), { recursive: true });
  mkdirSync(tmp);
  copyFileSync(LIB, join(dir, "scripts/lib.sh"));
  for (const script of SCRIPTS) {
    mkdirSync(dirname(join(dir, script)), { recursive: true });
    writeFileSync(join(dir, script), `printf '%s\\0' ${script} "$@" '${END}' >> "$RECORD"\n`);
  }
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
  const fields = readFileSync(record, "utf8").split("\0").slice(0, -1);
  const calls: string[][] = [];
  for (let i = 0; i < fields.length; i = fields.indexOf(END, i) + 1) calls.push(fields.slice(i, fields.indexOf(END, i)));
  return { status: r.status, stderr: r.stderr, calls };
}

/** Registered in this order; a helper appends its arguments to the record. */
const REGISTER = `
record() { printf '%s\\0' "$@" '${END}' >> "$RECORD"; }
work=$(mktemp -d "$TMPDIR/work.XXXXXX")
start_cluster "$work"
at_exit record first "a b" "c'd" '$HOME' ';' ''
at_exit record second
`;

const HOW_TO_EXIT: Record<string, { script: string; status: number }> = {
  "a normal exit": { script: "exit 0", status: 0 },
  "an explicit exit code": { script: "exit 3", status: 3 },
  "a failing command under set -e": { script: "false", status: 1 },
  SIGTERM: { script: "kill -TERM $$; sleep 5", status: 143 },
};

describe("lib.sh cleanups", () => {
  for (const [how, { script, status }] of Object.entries(HOW_TO_EXIT)) {
    it(`run with every argument intact, newest first, on ${how}`, () => {
      const { dir, tmp } = checkout();
      const r = run(dir, tmp, `${REGISTER}\n${script}`);
      assert.equal(r.status, status, r.stderr);
      const started = r.calls.filter((c) => c[1] === "start");
      const stopped = r.calls.filter((c) => c[1] === "stop");
      assert.ok(started.length > 0, `start_cluster ran none of ${SCRIPTS.join(", ")}`);
      const work = started[0]![2]!.slice(0, started[0]![2]!.lastIndexOf("/"));
      assert.ok(work.startsWith(join(tmp, "work.")), `work dir under the hostile TMPDIR: ${work}`);
      // Ours ran newest first, then the cluster's cleanup stopped exactly what start_cluster started.
      const ours = r.calls.filter((c) => !SCRIPTS.includes(c[0]!));
      assert.deepEqual(ours, [["second"], ["first", "a b", "c'd", "$HOME", ";", ""]]);
      assert.ok(r.calls.indexOf(stopped[0]!) > r.calls.indexOf(ours[1]!), "the cluster, registered first, is cleaned up last");
      assert.deepEqual(stopped.map((c) => `${c[0]} ${c[2]}`).sort(), started.map((c) => `${c[0]} ${c[2]}`).sort());
      for (const c of [...started, ...stopped]) assert.ok(c[2]!.startsWith(`${work}/`), `a path argument arrived intact: ${c[2]}`);
      assert.ok(!existsSync(work), "the work dir was removed");
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
    assert.equal(r.calls.filter((c) => c[1] === "stop").length, 0);
  });

  it("at_exit without a command is refused", () => {
    const { dir, tmp } = checkout();
    const r = run(dir, tmp, "at_exit");
    assert.equal(r.status, 1);
    assert.match(r.stderr, /at_exit: a command is required/);
  });
});
