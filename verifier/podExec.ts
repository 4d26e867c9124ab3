// Kubernetes' exec protocol over WebSocket, as kubectl speaks it since 1.31 and the API server
// serves it (k8s.io/apimachinery pkg/util/remotecommand/constants.go for the subprotocols,
// k8s.io/apimachinery pkg/util/httpstream/wsstream/conn.go for the framing, kubelet's
// pkg/kubelet/cri/streaming/remotecommand/exec.go for the exit status): each binary message is one
// channel byte then data; the error channel carries a metav1.Status once the command has ended.
import type { ExecTarget } from "./kubectl";

export const EXEC_PROTOCOLS = ["v5.channel.k8s.io", "v4.channel.k8s.io"];
export const STREAM_STDOUT = 1;
export const STREAM_STDERR = 2;
export const STREAM_ERROR = 3;

export function execPath(target: ExecTarget, command: readonly string[]): string {
  const q = new URLSearchParams();
  if (target.container) q.set("container", target.container);
  for (const c of command) q.append("command", c);
  q.set("stdout", "true");
  q.set("stderr", "true");
  return `/api/v1/namespaces/${encodeURIComponent(target.namespace)}/pods/${encodeURIComponent(target.pod)}/exec?${q}`;
}

interface Status {
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { causes?: Array<{ reason?: string; message?: string }> };
}

function parseStatus(text: string): Status | null {
  try {
    const s = JSON.parse(text) as unknown;
    return s !== null && typeof s === "object" && !Array.isArray(s) ? (s as Status) : null;
  } catch {
    return null;
  }
}

/**
 * The exit of the command from the error channel's Status. A non-zero exit is reason
 * NonZeroExitCode with the code as the message of an ExitCode cause; kubectl then prints
 * "command terminated with exit code N", and so does this.
 */
export function execStatus(text: string): { code: number; message: string | null } {
  const s = parseStatus(text);
  if (s === null) return { code: 1, message: `error: ${text.trim().slice(0, 400) || "an empty exec status"}` };
  if (s.status === "Success") return { code: 0, message: null };
  if (s.reason === "NonZeroExitCode") {
    const n = Number(s.details?.causes?.find((c) => c.reason === "ExitCode")?.message);
    if (Number.isInteger(n) && n > 0 && n < 256) return { code: n, message: `command terminated with exit code ${n}` };
  }
  return { code: 1, message: `error: ${s.message ?? "the command failed"}` };
}

/** Why the API server (or the proxy) refused the exec, in kubectl's words: `Error from server (Reason): message`. */
export function upgradeRefusal(statusCode: number, body: string): string {
  const s = parseStatus(body);
  if (s?.message) return `Error from server${s.reason ? ` (${s.reason})` : ""}: ${s.message}`;
  return `Error from server: HTTP ${statusCode}${body.trim() ? ` ${body.trim().slice(0, 200)}` : ""}`;
}
