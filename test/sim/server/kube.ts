// Minimal Kubernetes API client over `kubectl proxy --unix-socket` (kubectl handles the
// kubeconfig's credentials): list, watch with resume, create.
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { request } from "node:http";

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid: string;
    resourceVersion: string;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
  };
  [k: string]: unknown;
}

export interface WatchEvent {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: KubeObject;
}

export class Kube {
  constructor(readonly socket: string) {}

  /** One HTTP exchange with a JSON body; resolves with status and body (whole, not streamed). */
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: string }> {
    return this.callRaw(method, path, body === undefined ? undefined : JSON.stringify(body), "application/json");
  }

  callRaw(method: string, path: string, body: string | undefined, contentType: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : Buffer.from(body);
      const req = request(
        {
          socketPath: this.socket,
          path,
          method,
          headers: { Host: "localhost", Accept: "application/json", ...(data ? { "Content-Type": contentType, "Content-Length": data.length } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(data);
    });
  }

  async list(path: string): Promise<{ items: KubeObject[]; resourceVersion: string }> {
    const r = await this.call("GET", path);
    if (r.status !== 200) throw new Error(`GET ${path}: HTTP ${r.status}: ${r.body.slice(0, 300)}`);
    const doc = JSON.parse(r.body) as { items: KubeObject[]; metadata: { resourceVersion: string } };
    return { items: doc.items, resourceVersion: doc.metadata.resourceVersion };
  }

  /**
   * List then watch `path` for ever: `onList` gets every (re)list, `onEvent` each event. A closed
   * watch resumes from the last resourceVersion; an expired one (410) lists again.
   */
  informer(
    path: string,
    onList: (items: KubeObject[]) => void,
    onEvent: (e: WatchEvent) => void,
    onError: (e: Error) => void,
  ): { stop: () => void; synced: Promise<void> } {
    let stopped = false;
    let current: ReturnType<typeof request> | undefined;
    let resolveSynced: () => void = () => undefined;
    const synced = new Promise<void>((r) => (resolveSynced = r));
    const sep = path.includes("?") ? "&" : "?";

    type Outcome = { next: "relist" | "resume"; rv: string };
    const watch = (rv: string): Promise<Outcome> =>
      new Promise((resolve) => {
        let lastRv = rv;
        const done = (next: Outcome["next"]): void => resolve({ next, rv: lastRv });
        const req = request(
          { socketPath: this.socket, path: `${path}${sep}watch=1&allowWatchBookmarks=true&resourceVersion=${rv}`, headers: { Host: "localhost" } },
          (res) => {
            if (res.statusCode !== 200) {
              res.resume();
              done("relist");
              return;
            }
            let buf = "";
            res.setEncoding("utf8");
            res.on("data", (chunk: string) => {
              buf += chunk;
              for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
                const line = buf.slice(0, nl);
                buf = buf.slice(nl + 1);
                if (line.trim() === "") continue;
                const e = JSON.parse(line) as WatchEvent;
                if (e.type === "ERROR") {
                  // Typically 410 Gone: the resourceVersion is too old to resume from.
                  req.destroy();
                  done("relist");
                  return;
                }
                lastRv = e.object.metadata.resourceVersion;
                if (e.type !== "BOOKMARK") onEvent(e);
              }
            });
            res.on("end", () => done("resume"));
            res.on("error", () => done("resume"));
          },
        );
        current = req;
        req.on("error", () => done("resume"));
        req.end();
      });

    void (async () => {
      let rv = "";
      let needList = true;
      let failures = 0;
      while (!stopped) {
        try {
          if (needList) {
            const l = await this.list(path);
            onList(l.items);
            rv = l.resourceVersion;
            failures = 0;
            resolveSynced();
          }
          const began = Date.now();
          const outcome = await watch(rv);
          rv = outcome.rv;
          needList = outcome.next === "relist";
          // A watch that ends at once (API server or proxy going away) must not spin.
          if (Date.now() - began < 1000) await new Promise((r) => setTimeout(r, 200));
        } catch (e) {
          // Report the first failure of a streak, then every tenth; back off up to 2 s.
          if (failures % 10 === 0) onError(e as Error);
          failures++;
          needList = true;
          await new Promise((r) => setTimeout(r, Math.min(2000, 250 * 2 ** Math.min(failures, 3))));
        }
      }
    })();
    return {
      stop: () => {
        stopped = true;
        current?.destroy();
      },
      synced,
    };
  }
}

/** `kubectl proxy` serving the API on a unix socket; resolves once the socket answers. */
export async function startProxy(socket: string, kubectl = "kubectl"): Promise<ChildProcess> {
  const child = spawn(kubectl, ["proxy", `--unix-socket=${socket}`, "--keepalive=30s"], { stdio: ["ignore", "ignore", "inherit"] });
  const kube = new Kube(socket);
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`kubectl proxy exited with ${child.exitCode}`);
    if (existsSync(socket)) {
      const ok = await kube.call("GET", "/version").then(
        (r) => r.status === 200,
        () => false,
      );
      if (ok) return child;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error("kubectl proxy did not come up in 30s");
}
