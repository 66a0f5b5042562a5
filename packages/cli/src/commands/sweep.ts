import type { ActiveRun, ExpiredReport, ParsedScope } from '@active-runs/core';
import type { Command } from 'commander';
import { openStore } from '../connection.js';
import { json } from '../output.js';
import type { CommandContext } from '../program.js';

export function registerSweep(program: Command, ctx: CommandContext): void {
  program
    .command('sweep')
    .description(
      "one sweep pass: remove lapsed runs of every scope and print each one. They are reported here, not to your app's onExpired hook",
    )
    .option('--json', 'print the pass and the expired runs as JSON')
    .action(async (options: { json?: boolean }, command: Command) => {
      const expired: ({ scope: ParsedScope; run: ActiveRun } & ExpiredReport)[] = [];
      const store = await openStore(ctx.globals(command), {
        onExpired: (run, scope, report) => {
          expired.push({ scope, run, ...report });
          if (!options.json) {
            const again = report.redelivery ? ` [redelivery, attempt ${report.attempt}]` : '';
            ctx.io.out(
              `expired ${scope.workspaceId}/${scope.projectId} ${run.id} (${run.status})${again}\n`,
            );
          }
        },
        // dead letters (reports dropped after their last attempt) and a lost lock, one line each
        logger: {
          warn: (_details, message) => ctx.io.err(`warning: ${message}\n`),
          error: (_details, message) => ctx.io.err(`${message}\n`),
        },
      });
      try {
        const result = await store.sweep();
        if (options.json) {
          ctx.io.out(json({ ...result, runs: expired }));
          return;
        }
        ctx.io.out(
          result.ran
            ? `swept: ${result.expired} expired, ${result.redelivered} redelivered, ${result.failedReports} failed reports, ${result.deadLetters} dead letters, ${result.scopesVisited} scopes visited in ${Math.round(result.durationMs)} ms${result.lockLost ? '; stopped early: the sweep lock was lost (run it again)' : ''}\n`
            : 'not swept: another sweeper holds the lock; try again later\n',
        );
      } finally {
        await store.close();
      }
    });
}
