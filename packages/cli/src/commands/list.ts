import type { ListOptions } from '@active-runs/core';
import { MAX_PAGE_SIZE } from '@active-runs/core';
import type { Command } from 'commander';
import { Option } from 'commander';
import { openStore } from '../connection.js';
import { json, runTable } from '../output.js';
import type { CommandContext } from '../program.js';
import { integer } from '../program.js';

interface ListFlags {
  limit: number;
  cursor?: string;
  page?: number;
  status?: 'queued' | 'running';
  source?: string;
  json?: boolean;
}

export function registerList(program: Command, ctx: CommandContext): void {
  program
    .command('list')
    .description('one page of active runs: running first, newest first, then queued')
    .argument('<workspaceId>', 'workspace id')
    .argument('<projectId>', 'project id')
    .option('--limit <n>', 'runs per page', integer('--limit', 1, MAX_PAGE_SIZE), 25)
    .option('--cursor <cursor>', 'continue after a page (its nextCursor)')
    .option('--page <n>', 'offset paging: 1-based page number', integer('--page', 1, 10_000))
    .addOption(
      new Option('--status <status>', 'only queued or only running runs').choices([
        'queued',
        'running',
      ]),
    )
    .option('--source <source>', 'only runs with this source')
    .option('--json', 'print the page as JSON ({ items, total, nextCursor })')
    .action(async (workspaceId: string, projectId: string, flags: ListFlags, command: Command) => {
      const store = await openStore(ctx.globals(command));
      try {
        const options: ListOptions = { status: flags.status, source: flags.source };
        if (flags.page !== undefined)
          Object.assign(options, { page: flags.page, pageSize: flags.limit });
        else Object.assign(options, { limit: flags.limit, cursor: flags.cursor });
        const page = await store.list({ workspaceId, projectId }, options);
        if (flags.json) {
          ctx.io.out(json(page));
          return;
        }
        if (page.items.length > 0) ctx.io.out(runTable(page.items, Date.now()));
        ctx.io.out(
          `${page.items.length} of ${page.total} runs${page.nextCursor ? `; next page: --cursor ${page.nextCursor}` : ''}\n`,
        );
      } finally {
        await store.close();
      }
    });
}
