// cilium-dbg's command line as cobra reads it, for the two commands the simulator answers.
// Flags: cilium-dbg/cmd/encrypt_status.go and status.go (command.AddOutputOption: -o/--output),
// cilium-dbg/cmd/root.go (persistent -D/--debug).
import type { AgentView } from "./model";
import { encryptStatus, type Output, status } from "./render";

export type Command = { cmd: "encrypt-status" | "status"; output: string } | { error: string };

export function parseArgs(argv: string[]): Command {
  const words: string[] = [];
  let output = "";
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const inline = /^(?:--output=|-o=?)(.*)$/s.exec(a);
    if (a === "-o" || a === "--output") {
      if (i + 1 >= argv.length) return { error: `flag needs an argument: ${a === "-o" ? "'o' in -o" : "--output"}` };
      output = argv[++i]!;
    } else if (inline) output = inline[1]!;
    else if (a === "-D" || a === "--debug") continue;
    else if (a.startsWith("-")) return { error: `flag not simulated: ${a}` };
    else words.push(a);
  }
  const cmd = words.join(" ");
  if (cmd === "encrypt status") return { cmd: "encrypt-status", output };
  if (cmd === "status") return { cmd: "status", output };
  return { error: `command not simulated: ${cmd === "" ? "(none)" : cmd}` };
}

/** Exit code of the simulator's own refusals (not a cilium-dbg outcome). */
export const NOT_SIMULATED = 3;

export function run(argv: string[], view: AgentView): Output {
  const c = parseArgs(argv);
  if ("error" in c) return { stdout: "", stderr: `cilium-dbg simulator: ${c.error}\n`, code: NOT_SIMULATED };
  if (c.output !== "" && c.output !== "json") {
    // yaml and jsonpath exist in cilium-dbg but are not simulated.
    return { stdout: "", stderr: `cilium-dbg simulator: output format "${c.output}" not simulated\n`, code: NOT_SIMULATED };
  }
  const json = c.output === "json";
  return c.cmd === "encrypt-status" ? encryptStatus(view, json) : status(view, json);
}
