#!/usr/bin/env node
// The example's NestJS server as a process: `node dist/nest-server.js --help`.
import { startNestServer } from './nest-app.js';
import { runServerProcess } from './server-process.js';

await runServerProcess('nestjs', 3001, startNestServer);
