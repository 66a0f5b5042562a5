#!/usr/bin/env node
// The example's Fastify server as a process: `node dist/fastify-server.js --help`.
import { startFastifyServer } from './fastify-app.js';
import { runServerProcess } from './server-process.js';

await runServerProcess('fastify', 3000, startFastifyServer);
