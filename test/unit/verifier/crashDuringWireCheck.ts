// Preloaded into the verifier by exitPaths.test.ts: once the wire check has applied its pods, an
// error is thrown from a timer, outside any try, as a bug in a callback would throw it.
import { existsSync } from "node:fs";
import { join } from "node:path";

const applied = join(process.env.FAKE_KUBE_DIR!, "applied.json");
const timer = setInterval(() => {
  if (!existsSync(applied)) return;
  clearInterval(timer);
  throw new Error("simulated bug", { cause: new Error("its cause") });
}, 20);
timer.unref();
