// Executable side of fakeCluster.ts, put on PATH as `kubectl` by the CLI test.
import { handleKubectl } from "../fakeCluster";

const chunks: Buffer[] = [];
process.stdin.on("data", (c: Buffer) => chunks.push(c));
process.stdin.on("end", () => {
  const r = handleKubectl(process.env.FAKE_KUBE_DIR!, process.argv.slice(2), Buffer.concat(chunks).toString("utf8"));
  process.stdout.write(r.stdout);
  process.stderr.write(r.stderr);
  process.exitCode = r.code;
});
