#!/usr/bin/env node
// 1,000 SSE viewers of one scope on @active-runs/fastify: the Redis connections they cost, one
// event reaching all of them, and the app's memory per viewer. The viewers run in a child
// process; Redis is a throwaway redis-server, so CLIENT LIST shows only this app.
//   pnpm --filter @active-runs/fastify run measure:sse [viewers]   (after the build)
import { connect, measureSseViewers, startRedisServer } from '@active-runs/test-utils';
import Fastify from 'fastify';
import { activeRuns } from '../dist/index.js';

const count = Number(process.argv[2] ?? 1_000);
const scope = { workspaceId: 'w1', projectId: 'p1' };
const redisServer = await startRedisServer();
const app = Fastify();
await app.register(activeRuns, {
  redis: redisServer.url,
  prefix: 'measure',
  routes: { resolveScope: () => scope },
});
await app.listen({ port: 0, host: '127.0.0.1' });
const admin = connect(redisServer.url);
try {
  const report = await measureSseViewers({
    url: `http://127.0.0.1:${app.server.address().port}/runs/active/events`,
    headers: {},
    count,
    redis: admin,
    channelPattern: 'measure:*',
    event: 'queued',
    write: () => app.activeRuns.enqueue(scope, { id: 'r1' }),
  });
  console.log(
    `@active-runs/fastify, node ${process.version}, ${report.viewers} viewers:\n${JSON.stringify(report, null, 2)}`,
  );
} finally {
  await admin.quit();
  await app.close();
  await redisServer.stop();
}
