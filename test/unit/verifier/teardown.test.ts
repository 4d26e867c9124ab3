import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { KubectlResult } from "../../../verifier/kubectl";
import { Teardown, type UndoRun } from "../../../verifier/teardown";

const ok: KubectlResult = { code: 0, stdout: Buffer.alloc(0), stderr: "", timedOut: false };

function runner(): { run: UndoRun; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    run: async (args) => {
      calls.push(args.join(" "));
      return ok;
    },
  };
}

const deleteNs = (name: string) => async (run: UndoRun) => {
  await run(["delete", "namespace", name]);
};

describe("teardown", () => {
  it("a step undone by its owner is not undone again by a stop", async () => {
    const t = new Teardown();
    const own = runner();
    const stop = runner();
    const done = t.add("namespace a", deleteNs("a"));
    await done(own.run);
    await done(own.run);
    assert.deepEqual(await t.stop(stop.run, 1_000), []);
    assert.deepEqual([own.calls, stop.calls], [["delete namespace a"], []]);
  });

  it("a stop undoes every pending step with its own runner, at once; the owner then joins instead of repeating", async () => {
    const t = new Teardown();
    const own = runner();
    const stop = runner();
    const a = t.add("namespace a", deleteNs("a"));
    t.add("namespace b", deleteNs("b"));
    assert.deepEqual(await t.stop(stop.run, 1_000), []);
    await a(own.run);
    assert.deepEqual([own.calls, stop.calls.sort()], [[], ["delete namespace a", "delete namespace b"]]);
  });

  it("a stop is bounded: what hangs or fails is named, the rest is done", async () => {
    const t = new Teardown();
    const stop = runner();
    t.add("namespace hangs", () => new Promise<void>(() => undefined));
    t.add("namespace fails", async () => Promise.reject(new Error("no")));
    t.add("namespace b", deleteNs("b"));
    const started = Date.now();
    assert.deepEqual((await t.stop(stop.run, 200)).sort(), ["namespace fails", "namespace hangs"]);
    assert.ok(Date.now() - started < 2_000);
    assert.deepEqual(stop.calls, ["delete namespace b"]);
  });
});
