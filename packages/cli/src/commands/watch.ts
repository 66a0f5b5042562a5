import type { Command } from 'commander';
import { openStore } from '../connection.js';
import { clip } from '../output.js';
import type { CommandContext } from '../program.js';

export function registerWatch(program: Command, ctx: CommandContext): void {
  program
    .command('watch')
    .description(
      "print a scope's live events (queued, started, progress, heartbeat, ended, expired) until Ctrl-C",
    )
    .argument('<workspaceId>', 'workspace id')
    .argument('<projectId>', 'project id')
    .option('--json', 'one JSON event per line')
    .action(
      async (
        workspaceId: string,
        projectId: string,
        options: { json?: boolean },
        command: Command,
      ) => {
        const store = await openStore(ctx.globals(command));
        const stop = new AbortController();
        const onSignal = () => stop.abort();
        process.once('SIGINT', onSignal);
        process.once('SIGTERM', onSignal);
        try {
          for await (const event of store.events(
            { workspaceId, projectId },
            { signal: stop.signal },
          )) {
            if (options.json) {
              ctx.io.out(`${JSON.stringify(event)}\n`);
            } else if (event.type === 'gap') {
              ctx.io.out(
                `${new Date().toISOString()} -- ${event.reason}: refetch the page to be sure you see everything\n`,
              );
            } else if (event.type === 'heartbeat') {
              ctx.io.out(
                `${new Date().toISOString()} ${event.type.padEnd(8)} ${event.id} lease until ${new Date(event.leaseExpiresAt).toISOString()}\n`,
              );
            } else {
              const { run } = event;
              ctx.io.out(
                `${new Date().toISOString()} ${event.type.padEnd(8)} ${run.id} ${run.status}${run.source ? ` ${run.source}` : ''}${run.caption ? ` "${clip(run.caption, 60)}"` : ''}\n`,
              );
            }
          }
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
          await store.close();
        }
      },
    );
}
