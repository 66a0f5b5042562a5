import type { Command } from 'commander';
import { openStore } from '../connection.js';
import { CliError } from '../errors.js';
import { duration, json, table, when } from '../output.js';
import type { CommandContext } from '../program.js';

export function registerInspect(program: Command, ctx: CommandContext): void {
  program
    .command('inspect')
    .description('one active run, with its data (exit code 1 if it is not active)')
    .argument('<workspaceId>', 'workspace id')
    .argument('<projectId>', 'project id')
    .argument('<runId>', 'run id')
    .option('--json', 'print the run as JSON')
    .action(
      async (
        workspaceId: string,
        projectId: string,
        runId: string,
        options: { json?: boolean },
        command: Command,
      ) => {
        const store = await openStore(ctx.globals(command));
        try {
          const run = await store.get({ workspaceId, projectId }, runId);
          if (!run) {
            throw new CliError(
              `run ${runId} is not active in ${workspaceId}/${projectId} (never enqueued, ended, or expired)`,
            );
          }
          if (options.json) {
            ctx.io.out(json(run));
            return;
          }
          const now = Date.now();
          ctx.io.out(
            table(
              [`RUN ${run.id}`, ''],
              [
                ['status', run.status],
                ['source', run.source ?? '-'],
                ['queued at', `${when(run.queuedAt)} (${duration(now - run.queuedAt)} ago)`],
                [
                  'started at',
                  run.startedAt === null
                    ? '-'
                    : `${when(run.startedAt)} (${duration(now - run.startedAt)} ago)`,
                ],
                [
                  'lease until',
                  `${when(run.leaseExpiresAt)} (in ${duration(Math.max(0, run.leaseExpiresAt - now))})`,
                ],
                ['caption', run.caption ?? '-'],
              ],
            ),
          );
          ctx.io.out(`data: ${JSON.stringify(run.data, null, 2)}\n`);
        } finally {
          await store.close();
        }
      },
    );
}
