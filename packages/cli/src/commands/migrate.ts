import type { LegacyMigrationReport, Scope } from '@active-runs/core';
import { migrateLegacy } from '@active-runs/core';
import type { Command } from 'commander';
import { Option } from 'commander';
import { openStore } from '../connection.js';
import { CliError, usage } from '../errors.js';
import { json } from '../output.js';
import type { CommandContext } from '../program.js';
import { integer } from '../program.js';
import type { ProgressMode } from '../progress.js';
import { progressView } from '../progress.js';

interface MigrateFlags {
  dryRun?: boolean;
  batchSize: number;
  deleteSource?: boolean;
  match?: string;
  keyPrefix: string;
  scope?: string[];
  windowMs?: number;
  progress: ProgressMode;
  json?: boolean;
}

/** `workspaceId:projectId` → a scope (the parts themselves cannot contain ':'). */
function parseScopeArg(text: string): Scope {
  const at = text.indexOf(':');
  if (at <= 0 || at === text.length - 1) {
    throw usage(`--scope: "${text}" is not workspaceId:projectId`);
  }
  return { workspaceId: text.slice(0, at), projectId: text.slice(at + 1) };
}

const fmt = (n: number) => n.toLocaleString('en');
const counts = (byReason: Partial<Record<string, number>>) =>
  Object.entries(byReason)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([reason, n]) => `${reason} ${fmt(n ?? 0)}`)
    .join(', ') || 'none';

/** The report as a few lines a person reads after the run. */
function summary(report: LegacyMigrationReport): string {
  const would = report.dryRun ? 'dry run (nothing written): would have ' : '';
  const seconds = report.durationMs / 1_000;
  const lines = [
    `${would}migrated ${fmt(report.scopesMigrated)} scope(s) (${fmt(report.scopesAlreadyMigrated)} already migrated) of ${fmt(report.keys)} legacy key(s)`,
    `${report.dryRun ? 'would copy' : 'copied'} ${fmt(report.copied)} of ${fmt(report.scanned)} records in ${seconds.toFixed(1)} s (${fmt(Math.round(report.scanned / Math.max(seconds, 0.001)))} records/s)`,
    `skipped records: ${counts(report.skipped)}`,
    `skipped keys: ${counts(report.skippedKeys)}`,
    `deleted legacy keys: ${fmt(report.deletedKeys)}${report.dryRun && report.deletedKeys > 0 ? ' (would delete)' : ''}`,
    `failed scopes: ${fmt(report.failed)}`,
    ...report.failures.map((f) => `  ${f.key}: ${f.reason}`),
  ];
  if (report.aborted)
    lines.push('aborted: run the same command again to resume from the checkpoint');
  return `${lines.join('\n')}\n`;
}

export function registerMigrate(program: Command, ctx: CommandContext): void {
  program
    .command('migrate')
    .description(
      'copy runs:active:<workspaceId>:<projectId> hashes into the store, verify, and switch each scope to the new layout (resumable, idempotent)',
    )
    .option('--dry-run', 'count what would be copied, skipped and deleted; write nothing')
    .option(
      '--batch-size <n>',
      'records per HSCAN batch and per import call',
      integer('--batch-size', 1, 1_000),
      500,
    )
    .option('--delete-source', 'delete each legacy key once its scope is copied and verified')
    .option(
      '--match <pattern>',
      'SCAN pattern of the legacy keys (default: <key-prefix>runs:active:*)',
    )
    .option(
      '--key-prefix <prefix>',
      'the ioredis keyPrefix the legacy code used, e.g. "latitude:"',
      '',
    )
    .option(
      '--scope <workspaceId:projectId>',
      'migrate this scope (repeatable) instead of scanning for keys',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option(
      '--window-ms <ms>',
      'the legacy window: older records are stale (default 3 h)',
      integer('--window-ms', 1_000, 2_592_000_000),
    )
    .addOption(
      new Option(
        '--progress <mode>',
        'progress display: a bar on a terminal, plain lines otherwise',
      )
        .choices(['auto', 'bar', 'lines', 'none'])
        .default('auto'),
    )
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      '\nRun it once every app instance runs with the legacy option (rollout mode). Ctrl-C stops after the current batch; run it again to resume.',
    )
    .action(async (flags: MigrateFlags, command: Command) => {
      const scopes = flags.scope?.map(parseScopeArg);
      if (scopes && flags.match) throw usage('pass --match or --scope, not both');
      const store = await openStore(ctx.globals(command), {
        legacy: {
          keyPrefix: flags.keyPrefix,
          ...(flags.windowMs !== undefined && { windowMs: flags.windowMs }),
        },
      });
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const view = progressView(flags.progress, ctx.io);
      let report: LegacyMigrationReport;
      try {
        report = await migrateLegacy(store, {
          ...(scopes ? { scopes } : {}),
          ...(flags.match ? { match: flags.match } : {}),
          batchSize: flags.batchSize,
          dryRun: flags.dryRun === true,
          deleteSource: flags.deleteSource === true,
          signal: stop.signal,
          onProgress: (p) => view.update(p),
        });
      } finally {
        view.stop();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        await store.close();
      }
      ctx.io.out(flags.json ? json(report) : summary(report));
      if (report.failed > 0)
        throw new CliError(`${report.failed} scope(s) failed to migrate; see above`);
      if (report.aborted)
        throw new CliError('aborted before the end; run the same command again to resume');
    });
}
