import { defineConfig } from 'tsup';

export default defineConfig([
  // the library entry (run the CLI from code), for ESM and CommonJS consumers
  {
    entry: ['src/index.ts'],
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    target: 'node20',
  },
  // the `active-runs` bin
  {
    entry: ['src/bin.ts'],
    format: ['esm'],
    sourcemap: true,
    target: 'node20',
    banner: { js: '#!/usr/bin/env node' },
  },
]);
