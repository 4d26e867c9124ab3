import { ArgsError, USAGE, parseVerifierArgs } from './args';
import { createKubectl } from './kubectl';
import { buildReport, summarize, type Report } from './report';
import { verify } from './run';
import { expandStackFlag } from './invocation';

// Thin entry point: stdout carries exactly one JSON document (the report), everything for
// humans goes to stderr.
async function main(argv: readonly string[]): Promise<number> {
  let report: Report;
  try {
    const args = parseVerifierArgs(expandStackFlag(argv, process.cwd()));
    report = await verify(args, {
      kubectl: createKubectl({ kubeconfig: args.kubeconfig, context: args.context }),
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      now: () => Date.now(),
      log: (line) => process.stderr.write(`verifier: ${line}\n`),
    });
  } catch (e) {
    if (e instanceof ArgsError) process.stderr.write(`${e.message}\n${USAGE}\n`);
    report = buildReport({
      mode: null, ciliumVersion: null, namespace: null, checkedAt: new Date(), cluster: null, configProblems: [], nodes: [],
      wire: { verdict: 'skipped', reason: 'verification did not run' }, warnings: [],
      error: e instanceof ArgsError ? `invalid arguments: ${e.message}` : `verifier crashed: ${(e as Error).stack ?? String(e)}`,
    });
  }
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  process.stderr.write(`${summarize(report)}\n`);
  return report.exitCode;
}

void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
