/**
 * `dominion dashboard` as cli/bundled.mjs runs it: the command and main.ts's one-line error report,
 * nothing else, so the bundle holds only what the dashboard needs.
 */
import { dashboardCommand } from './dashboard.ts';
import { reportError } from './report.ts';

export async function run(argv: string[]): Promise<number> {
  try {
    return await dashboardCommand(argv);
  } catch (error) {
    const report = reportError('dashboard', error);
    for (const line of report.lines) console.error(line);
    return report.code;
  }
}
