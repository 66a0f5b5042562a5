import type { Command } from 'commander';
import { openStore } from '../connection.js';
import { duration, json, table } from '../output.js';
import type { CommandContext } from '../program.js';

export function registerStats(program: Command, ctx: CommandContext): void {
  program
    .command('stats')
    .description("a scope's counts by status and source, lapsed runs, oldest ages, pending reports")
    .argument('<workspaceId>', 'workspace id')
    .argument('<projectId>', 'project id')
    .option('--memory', "also the scope's approximate Redis memory")
    .option('--json', 'print JSON')
    .action(
      async (
        workspaceId: string,
        projectId: string,
        options: { memory?: boolean; json?: boolean },
        command: Command,
      ) => {
        const store = await openStore(ctx.globals(command));
        try {
          const stats = await store.stats(
            { workspaceId, projectId },
            { memory: options.memory === true },
          );
          if (options.json) {
            ctx.io.out(json(stats));
            return;
          }
          const rows: string[][] = [
            ['total', String(stats.total)],
            ['queued', String(stats.byStatus.queued)],
            ['running', String(stats.byStatus.running)],
            ['lapsed (not swept yet)', String(stats.lapsed)],
            ['oldest queued', duration(stats.oldestQueuedAgeMs)],
            ['longest running', duration(stats.longestRunningMs)],
            ['pending expiry reports', String(stats.pendingExpiredReports)],
          ];
          if (stats.memoryBytes !== undefined) rows.push(['memory', `${stats.memoryBytes} bytes`]);
          for (const [source, n] of Object.entries(stats.bySource).sort())
            rows.push([`source ${source}`, String(n)]);
          ctx.io.out(table([`SCOPE ${workspaceId}/${projectId}`, ''], rows));
        } finally {
          await store.close();
        }
      },
    );
}
