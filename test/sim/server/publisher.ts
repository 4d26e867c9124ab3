// Publishes each simulated agent's CiliumNode, as the agent does at start and on every change of
// its local node (pkg/nodediscovery/nodediscovery.go). The CRD is registered first, from the
// Cilium module of the agents' version, as the operator would (the simulated cluster runs none).
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { ciliumNodeFor } from "../agent/ciliumNode";
import { agentView, type Remote } from "../agent/model";
import { type Minor, SOURCE_VERSION } from "../agent/versions";
import type { Kube } from "./kube";
import type { Store } from "./store";

const CRD_PATH = "pkg/k8s/apis/cilium.io/client/crds/v2/ciliumnodes.yaml";

/** The Cilium module directory of a version: through the toolchain's chart links, else the Go module cache. */
export function moduleDir(version: string, chartsDir: string | undefined): string | undefined {
  const candidates: string[] = [];
  if (chartsDir) {
    const chart = join(chartsDir, version);
    if (existsSync(chart)) candidates.push(join(realpathSync(chart), "../../.."));
  }
  candidates.push(join(process.env.GOMODCACHE ?? join(process.env.GOPATH ?? join(homedir(), "go"), "pkg/mod"), `github.com/cilium/cilium@v${version}`));
  return candidates.find((d) => existsSync(join(d, CRD_PATH)));
}

export class CiliumNodePublisher {
  private readonly applied = new Map<string, string>();
  private readonly bootIds = new Map<string, string>();
  private crd: "unknown" | "ready" | "unavailable" = "unknown";
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private again = false;

  constructor(
    private readonly kube: Kube,
    private readonly store: Store,
    private readonly known: (t: number) => Map<string, Remote>,
    private readonly chartsDir: string | undefined,
    private readonly log: (msg: string) => void,
  ) {}

  /** Schedules a sync soon; bursts of cluster events coalesce into one. */
  poke(): void {
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.sync();
    }, 100);
  }

  private async ensureCrd(minor: Minor): Promise<boolean> {
    if (this.crd !== "unknown") return this.crd === "ready";
    const name = "ciliumnodes.cilium.io";
    const have = await this.kube.call("GET", `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`);
    if (have.status !== 200) {
      const dir = moduleDir(SOURCE_VERSION[minor], this.chartsDir);
      if (dir === undefined) {
        this.log(`no Cilium ${SOURCE_VERSION[minor]} module found for the CiliumNode CRD: CiliumNodes are not published`);
        this.crd = "unavailable";
        return false;
      }
      const r = await this.kube.call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", parse(readFileSync(join(dir, CRD_PATH), "utf8")));
      if (r.status !== 201 && r.status !== 409) throw new Error(`create CRD ${name}: HTTP ${r.status}: ${r.body.slice(0, 200)}`);
    }
    // Served once Established.
    for (let i = 0; i < 100; i++) {
      const r = await this.kube.call("GET", "/apis/cilium.io/v2");
      if (r.status === 200 && r.body.includes('"ciliumnodes"')) {
        this.crd = "ready";
        return true;
      }
      await new Promise((res) => setTimeout(res, 100));
    }
    throw new Error("the CiliumNode CRD was not served within 10s");
  }

  private async sync(): Promise<void> {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    try {
      const t = Date.now();
      const known = this.known(t);
      for (const [name, remote] of known) {
        const v = agentView(name, this.store.world, t, known);
        // A down agent publishes nothing; its CiliumNode stays as it was.
        if (v === undefined || !v.reachable) continue;
        if (!(await this.ensureCrd(remote.run.pod.minor))) return;
        let boot = this.bootIds.get(name);
        if (boot === undefined) {
          boot = randomUUID();
          this.bootIds.set(name, boot);
        }
        const obj = ciliumNodeFor(remote.node, v, boot);
        const body = JSON.stringify(obj);
        if (this.applied.get(name) === body) continue;
        // Create or replace, as the agent's Create/Update of its CiliumNode (an apply patch would
        // leave an emptied spec.encryption behind as null, which the CRD schema refuses).
        const path = `/apis/cilium.io/v2/ciliumnodes/${name}`;
        const cur = await this.kube.call("GET", path);
        const r =
          cur.status === 404
            ? await this.kube.call("POST", "/apis/cilium.io/v2/ciliumnodes", obj)
            : await this.kube.call("PUT", path, {
                ...obj,
                metadata: { ...obj.metadata, resourceVersion: (JSON.parse(cur.body) as { metadata: { resourceVersion: string } }).metadata.resourceVersion },
              });
        if (r.status !== 200 && r.status !== 201) {
          this.log(`apply CiliumNode ${name}: HTTP ${r.status}: ${r.body.slice(0, 200)}`);
          continue;
        }
        this.applied.set(name, body);
      }
    } catch (e) {
      this.log(`CiliumNodes: ${(e as Error).message}`);
    } finally {
      this.running = false;
      if (this.again) {
        this.again = false;
        this.poke();
      }
    }
  }
}
