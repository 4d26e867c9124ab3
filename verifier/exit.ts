import { constants } from "node:os";
import { parseFlags } from "./args";

/**
 * How a run that produced no report ends: one line for people, a JSON "unverified" on stdout for
 * programs (the verification Command, drift), never a stack trace.
 */

/** Set by the verification Command: its flags and connection come from the stack's config. */
export const FROM_STACK_ENV = "CILIUM_ENCRYPTION_FROM_STACK";

export interface ConnectionSettings {
  kubeconfig: string;
  context: string;
}

/**
 * What a message calls the kubeconfig and the context: the flag when one was given, the stack
 * setting when they came from the stack (`--stack`, or the verification Command of `pulumi up`).
 */
export function connectionSettings(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): ConnectionSettings {
  let flags: ReturnType<typeof parseFlags>;
  try {
    flags = parseFlags(argv);
  } catch {
    flags = {};
  }
  const fromStack = flags.stack !== undefined || env[FROM_STACK_ENV] === "1";
  const name = (flag: "kubeconfig" | "context"): string => (flags[flag] === undefined && fromStack ? `cilium-encryption:cluster.${flag}` : `--${flag}`);
  return { kubeconfig: name("kubeconfig"), context: name("context") };
}

/** An error and its causes, on one line: what the user needs, without the trace. */
export function errorLine(e: unknown): string {
  const parts: string[] = [];
  const seen = new Set<unknown>();
  for (let cur: unknown = e; cur !== undefined && cur !== null && !seen.has(cur) && parts.length < 5; cur = (cur as { cause?: unknown }).cause) {
    seen.add(cur);
    const text = (cur instanceof Error ? cur.message : String(cur)).replace(/\s*\n\s*/g, " ").trim();
    if (text !== "" && !parts.some((p) => p.includes(text))) parts.push(text);
    if (!(cur instanceof Error)) break;
  }
  return parts.join(": ") || "unknown error";
}

/** The exit status of a process ended by SIGNAL, as shells report it: 128 + its number. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return 128 + constants.signals[signal];
}

/** The report of a run that ended before it could judge anything. */
export function unverified(exitCode: number, error: string): { verdict: "unverified"; exitCode: number; error: string } {
  return { verdict: "unverified", exitCode, error };
}
