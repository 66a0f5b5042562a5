import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { BenchModeName } from './modes.js';
import { MODES } from './modes.js';
import { runBench } from './run.js';

const USAGE = `usage: node --expose-gc dist/cli.js [options]
  --mode smoke|default|full   sizes and iterations (default: default)
  --out FILE                  where to write the markdown (default: BENCHMARKS.md at the repo
                              root; for smoke, a file in the temp directory)
  --json FILE                 also write every number as JSON
  --sections a,b              run only these sections (reads, writes, lifecycle, memory,
                              sweeper, profile, http, telemetry)
  --sizes n,m                 measure only these project sizes (e.g. 10000 for a quick
                              reads run: --mode default --sections reads --sizes 10000)
  --cpu-prof-dir DIR          save the profiled operations' .cpuprofile files (DevTools)`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      mode: { type: 'string', default: 'default' },
      out: { type: 'string' },
      json: { type: 'string' },
      sections: { type: 'string' },
      sizes: { type: 'string' },
      'cpu-prof-dir': { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  if (!(values.mode! in MODES)) throw new Error(`unknown --mode ${values.mode}\n${USAGE}`);
  const base = MODES[values.mode as BenchModeName];
  const sizes = values.sizes?.split(',').map((s) => Number(s.trim()));
  if (sizes?.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new Error(`--sizes takes positive integers, got ${values.sizes}\n${USAGE}`);
  }
  const mode = sizes ? { ...base, sizes: [...sizes].sort((a, b) => a - b) } : base;
  const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
  const out =
    values.out ??
    (mode.name === 'smoke'
      ? join(tmpdir(), 'active-runs-bench-smoke.md')
      : join(repoRoot, 'BENCHMARKS.md'));
  const script = relative(process.cwd(), fileURLToPath(import.meta.url));
  const nodeCommand = ['node', ...process.execArgv, script, ...process.argv.slice(2)].join(' ');
  const result = await runBench({
    mode,
    nodeCommand,
    ...(values['cpu-prof-dir'] ? { cpuProfileDir: values['cpu-prof-dir'] } : {}),
    ...(values.sections ? { sections: values.sections.split(',').map((s) => s.trim()) } : {}),
    log: (message) => process.stderr.write(`[bench] ${message}\n`),
  });
  writeFileSync(out, result.markdown);
  if (values.json) writeFileSync(values.json, `${JSON.stringify(result.json, null, 2)}\n`);
  process.stderr.write(`[bench] wrote ${out}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(
    `[bench] failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exit(1);
});
