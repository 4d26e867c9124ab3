/**
 * A service account bound to the ClusterRoles of deploy/rbac, and a kubeconfig that acts as it: what
 * a CI job's credential is, for proving that those roles are all a command needs.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { kubeconfig, kubectl, PROJECT_DIR } from "./harness";

const RBAC = "rbac.authorization.k8s.io";

/** A ClusterRole of deploy/rbac bound cluster-wide, or in one namespace. */
export interface Grant {
  role: string;
  namespace?: string;
}

function apply(objects: unknown[]): void {
  execFileSync("kubectl", ["--kubeconfig", kubeconfig(), "apply", "-f", "-"], {
    input: JSON.stringify({ apiVersion: "v1", kind: "List", items: objects }),
    stdio: ["pipe", "ignore", "pipe"],
  });
}

export function applyRbacManifests(): void {
  for (const file of ["preview.yaml", "verify.yaml"]) kubectl("apply", "-f", join(PROJECT_DIR, "deploy", "rbac", file));
}

const bindingName = (account: string, g: Grant) => `${account}-${g.role}`;

/** The service account `account` in `default`, holding exactly `grants`. */
export function grant(account: string, grants: readonly Grant[]): void {
  const subjects = [{ kind: "ServiceAccount", name: account, namespace: "default" }];
  apply([
    { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: account, namespace: "default" } },
    ...grants.map((g) => ({
      apiVersion: `${RBAC}/v1`,
      kind: g.namespace === undefined ? "ClusterRoleBinding" : "RoleBinding",
      metadata: { name: bindingName(account, g), ...(g.namespace === undefined ? {} : { namespace: g.namespace }) },
      roleRef: { apiGroup: RBAC, kind: "ClusterRole", name: g.role },
      subjects,
    })),
  ]);
}

export function revoke(account: string, g: Grant): void {
  const kind = g.namespace === undefined ? "clusterrolebinding" : "rolebinding";
  kubectl("delete", kind, bindingName(account, g), ...(g.namespace === undefined ? [] : ["--namespace", g.namespace]), "--wait=true");
}

/**
 * Writes to `file` a kubeconfig with the test cluster and a token of `account`, under the context
 * name the admin kubeconfig uses (so a stack's `cluster.context` holds for both).
 */
export function writeServiceAccountKubeconfig(account: string, file: string): void {
  const token = kubectl("create", "token", account, "--namespace", "default", "--duration", "1h").trim();
  const admin = parse(kubectl("config", "view", "--raw", "--minify", "--flatten")) as {
    clusters: Array<{ name: string }>;
    "current-context": string;
  };
  const context = admin["current-context"];
  writeFileSync(
    file,
    stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: admin.clusters,
      users: [{ name: account, user: { token } }],
      contexts: [{ name: context, context: { cluster: admin.clusters[0]!.name, user: account } }],
      "current-context": context,
    }),
    { mode: 0o600 },
  );
}

/** Waits until the API server's authorizer answers `allowed` for the account (RBAC changes reach it through a watch). */
export function waitForAuthorization(account: string, verb: string, resource: string, namespace: string | undefined, allowed: boolean): void {
  const as = `--as=system:serviceaccount:default:${account}`;
  const args = ["auth", "can-i", verb, resource, as, ...(namespace === undefined ? [] : ["--namespace", namespace])];
  for (let i = 0; i < 100; i++) {
    const answer = spawnSync("kubectl", ["--kubeconfig", kubeconfig(), ...args], { encoding: "utf8" }).stdout.trim();
    if (answer === (allowed ? "yes" : "no")) return;
    spawnSync("sleep", ["0.1"]);
  }
  throw new Error(`kubectl ${args.join(" ")} never answered ${allowed ? "yes" : "no"}`);
}
