/**
 * Helm's release records as its default storage driver keeps them: one Secret per revision, named
 * `sh.helm.release.v1.<release>.v<revision>`, labelled owner=helm, name, status, version, with
 * `data.release` = base64(gzip(JSON of the release)) (helm v3.18.6 pkg/storage/driver/util.go
 * encodeRelease, pkg/storage/driver/secrets.go newSecretsObject). The Kubernetes API base64-encodes
 * Secret data once more.
 */
import { gunzipSync } from "node:zlib";
import type { Values } from "../encryption/helmValues";

/** What adoption needs of a release; `config` is what its users set (`helm get values`), possibly secrets. */
export interface HelmRelease {
  name: string;
  namespace: string;
  revision: number;
  /** helm v3.18.6 pkg/release/status.go: deployed, failed, pending-install, pending-upgrade, ... */
  status: string;
  chartName: string;
  chartVersion: string;
  config: Values;
}

/** A storage Secret as `kubectl get secret -o json` lists it. */
export interface StorageSecret {
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  data?: { release?: string };
}

export class HelmRecordError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "HelmRecordError";
  }
}

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b, 0x08]);

/** Decodes one storage Secret; errors name the Secret, never its contents (values may hold secrets). */
export function decodeStorageSecret(secret: StorageSecret): HelmRelease {
  const where = `Helm release record ${secret.metadata.namespace ?? ""}/${secret.metadata.name}`;
  const data = secret.data?.release;
  if (typeof data !== "string") throw new HelmRecordError(`${where} has no data.release`);
  let record: unknown;
  try {
    let bytes = Buffer.from(Buffer.from(data, "base64").toString("utf8"), "base64");
    // Releases stored before Helm compressed them are plain JSON (helm v3.18.6 util.go decodeRelease).
    if (bytes.length > 3 && bytes.subarray(0, 3).equals(GZIP_MAGIC)) bytes = gunzipSync(bytes);
    record = JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new HelmRecordError(`${where} is not a Helm v3 release (base64, gzip, JSON)`);
  }
  const meta = field(field(record, "chart"), "metadata");
  const name = field(record, "name");
  const revision = field(record, "version");
  const chartVersion = field(meta, "version");
  if (typeof name !== "string" || typeof revision !== "number" || typeof chartVersion !== "string") {
    throw new HelmRecordError(`${where} lacks the release name, revision or chart version`);
  }
  const namespace = field(record, "namespace");
  const status = field(field(record, "info"), "status");
  const chartName = field(meta, "name");
  const config = field(record, "config");
  return {
    name,
    namespace: typeof namespace === "string" ? namespace : (secret.metadata.namespace ?? ""),
    revision,
    status: typeof status === "string" ? status : "unknown",
    chartName: typeof chartName === "string" ? chartName : "",
    chartVersion,
    config: config !== null && typeof config === "object" && !Array.isArray(config) ? (config as Values) : {},
  };
}

/** An own property of parsed JSON of unknown shape; undefined when `o` is not an object or lacks it (never Object.prototype's). */
function field(o: unknown, key: string): unknown {
  return o !== null && typeof o === "object" && Object.hasOwn(o, key) ? (o as Record<string, unknown>)[key] : undefined;
}

/**
 * The release as Helm sees it: its highest revision (helm v3.18.6 pkg/action/get.go → storage.Last),
 * or undefined when there is none. Only records of `name` count.
 */
export function currentRelease(secrets: StorageSecret[], name: string): HelmRelease | undefined {
  const ours = secrets.filter((s) => s.metadata.labels?.owner === "helm" && s.metadata.labels?.name === name);
  const revision = (s: StorageSecret) => Number(s.metadata.labels?.version);
  const latest = ours.filter((s) => Number.isInteger(revision(s))).sort((a, b) => revision(b) - revision(a))[0];
  return latest === undefined ? undefined : decodeStorageSecret(latest);
}
