import { defineConfig } from 'tsup';

// The example's processes: `npm start` at the repo root runs dist/start.js, which forks the others.
export default defineConfig({
  entry: ['src/start.ts', 'src/fastify-server.ts', 'src/nest-server.ts', 'src/simulator.ts'],
  format: ['esm'],
  sourcemap: true,
  clean: true,
  target: 'node20',
});
