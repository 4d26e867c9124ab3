import type { KubectlResult, RunOptions } from "./kubectl";

/** Runs a kubectl command for an undo step. */
export type UndoRun = (args: readonly string[], opts?: RunOptions) => Promise<KubectlResult>;

interface Step {
  what: string;
  undo: (run: UndoRun) => Promise<void>;
  running: Promise<void> | null;
}

/**
 * What a run created in the cluster and must remove however it ends. The step that created a thing
 * registers how to remove it and removes it itself when done; a stopped run (a signal, a crash)
 * removes what is still registered before the process exits. A step is never undone twice.
 */
export class Teardown {
  private readonly steps = new Set<Step>();

  /** Registers UNDO; the returned function runs it now with RUN (or joins the run a stop started) and unregisters it. */
  add(what: string, undo: (run: UndoRun) => Promise<void>): (run: UndoRun) => Promise<void> {
    const step: Step = { what, undo, running: null };
    this.steps.add(step);
    return (run) => this.start(step, run);
  }

  /** Runs every registered undo at once with RUN; resolves with what did not finish (or failed) within TIMEOUT_MS. */
  async stop(run: UndoRun, timeoutMs: number): Promise<string[]> {
    const steps = [...this.steps];
    const finished = new Set<Step>();
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    await Promise.race([Promise.allSettled(steps.map((s) => this.start(s, run).then(() => finished.add(s)))), bound]);
    clearTimeout(timer);
    return steps.filter((s) => !finished.has(s)).map((s) => s.what);
  }

  private start(step: Step, run: UndoRun): Promise<void> {
    step.running ??= step.undo(run).finally(() => this.steps.delete(step));
    return step.running;
  }
}
