import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts', 'src/sse-viewers-child.ts'],
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  external: ['vitest', 'testcontainers', '@testcontainers/redis', 'ioredis'],
});
