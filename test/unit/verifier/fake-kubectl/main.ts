// Executable side of fakeCluster.ts, put on PATH as `kubectl` by the CLI test. `kubectl proxy`
// serves pod exec on its socket with the API's WebSocket exec protocol, answered by the same fake.
import { existsSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { WebSocketServer } from "ws";
import { execArgv, handleKubectl, logCall } from "../fakeCluster";

const dir = process.env.FAKE_KUBE_DIR!;
const argv = process.argv.slice(2).filter((a) => !a.startsWith("--kubeconfig="));
// The proxy's execs run with its credentials, and are logged so.
const credentials = process.argv.slice(2).filter((a) => a.startsWith("--kubeconfig="));
const REFUSED = /^Error from server \((\w+)\): (.*)/;
const HTTP_STATUS: Record<string, number> = { NotFound: 404, TooManyRequests: 429 };

function proxy(socket: string): void {
  const wss = new WebSocketServer({ noServer: true });
  const server = createServer((_req, res) => {
    res.writeHead(404).end();
  });
  server.on("upgrade", (req, sock, head) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/exec$/.exec(url.pathname);
    if (!m) {
      sock.end("HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\n\r\nForbidden");
      return;
    }
    // A role that grants create on pods/exec but not get: the API server refuses exec over WebSocket.
    if (existsSync(join(dir, "exec-get-forbidden"))) {
      const status = JSON.stringify({
        kind: "Status",
        status: "Failure",
        reason: "Forbidden",
        message: 'pods "x" is forbidden: cannot get resource "pods/exec"',
      });
      sock.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(status)}\r\n\r\n${status}`);
      return;
    }
    const container = url.searchParams.get("container");
    const target = { namespace: decodeURIComponent(m[1]!), pod: decodeURIComponent(m[2]!), ...(container ? { container } : {}) };
    const r = handleKubectl(dir, [...credentials, ...execArgv(target, url.searchParams.getAll("command"))], "");
    const refused = REFUSED.exec(r.stderr);
    if (r.code !== 0 && (refused || /connection to the server/.test(r.stderr))) {
      const status = JSON.stringify({
        kind: "Status",
        status: "Failure",
        reason: refused?.[1] ?? "ServiceUnavailable",
        message: refused?.[2] ?? r.stderr.trim(),
      });
      const code = HTTP_STATUS[refused?.[1] ?? ""] ?? 503;
      sock.end(`HTTP/1.1 ${code} Refused\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(status)}\r\n\r\n${status}`);
      return;
    }
    wss.handleUpgrade(req, sock, head, (ws) => {
      const frame = (channel: number, data: Buffer | string) => ws.send(Buffer.concat([Buffer.from([channel]), Buffer.from(data)]));
      frame(1, r.stdout);
      frame(2, r.stderr.replace(/command terminated with exit code \d+\n$/, ""));
      frame(
        3,
        JSON.stringify(
          r.code === 0
            ? { metadata: {}, status: "Success" }
            : {
                metadata: {},
                status: "Failure",
                message: `command terminated with non-zero exit code: exit status ${r.code}`,
                reason: "NonZeroExitCode",
                details: { causes: [{ reason: "ExitCode", message: String(r.code) }] },
              },
        ),
      );
      ws.close(1000);
    });
  });
  server.listen(socket, () => process.stdout.write(`Starting to serve on ${socket}\n`));
  process.on("SIGTERM", () => process.exit(0));
}

if (argv[0] === "proxy") {
  logCall(dir, process.argv.slice(2));
  const socket = argv.find((a) => a.startsWith("--unix-socket="))?.slice("--unix-socket=".length);
  if (!socket) {
    process.stderr.write("fake kubectl proxy: only --unix-socket is served\n");
    process.exit(1);
  }
  proxy(socket);
} else {
  const chunks: Buffer[] = [];
  process.stdin.on("data", (c: Buffer) => chunks.push(c));
  process.stdin.on("end", () => {
    const r = handleKubectl(dir, process.argv.slice(2), Buffer.concat(chunks).toString("utf8"));
    process.stdout.write(r.stdout);
    process.stderr.write(r.stderr);
    process.exitCode = r.code;
  });
}
