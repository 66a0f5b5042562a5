#!/usr/bin/env node
// 1,000 SSE viewers of one scope on @active-runs/nestjs (platform-express, then
// platform-fastify): the Redis connections they cost, one event reaching all of them, and the
// app's memory per viewer. The viewers run in a child process; Redis is a throwaway
// redis-server, so CLIENT LIST shows only this app.
//   pnpm --filter @active-runs/nestjs run measure:sse [viewers]   (after the build)
import { connect, measureSseViewers, startRedisServer } from '@active-runs/test-utils';
import { NestFactory } from '@nestjs/core';
import { ExpressAdapter } from '@nestjs/platform-express';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { ACTIVE_RUN_STORE, ActiveRunsModule } from '../dist/index.js';

const count = Number(process.argv[2] ?? 1_000);
const scope = { workspaceId: 'w1', projectId: 'p1' };
for (const [platform, adapter] of [
  ['express', () => new ExpressAdapter()],
  ['fastify', () => new FastifyAdapter()],
]) {
  const redisServer = await startRedisServer();
  const app = await NestFactory.create(
    ActiveRunsModule.forRoot({
      redis: redisServer.url,
      prefix: 'measure',
      routes: { resolveScope: () => scope },
    }),
    adapter(),
    { logger: false },
  );
  await app.listen(0, '127.0.0.1');
  const admin = connect(redisServer.url);
  try {
    const report = await measureSseViewers({
      url: `${await app.getUrl()}/runs/active/events`.replace('[::1]', '127.0.0.1'),
      headers: {},
      count,
      redis: admin,
      channelPattern: 'measure:*',
      event: 'queued',
      write: () => app.get(ACTIVE_RUN_STORE).enqueue(scope, { id: 'r1' }),
    });
    console.log(
      `@active-runs/nestjs on platform-${platform}, node ${process.version}, ${report.viewers} viewers:\n${JSON.stringify(report, null, 2)}`,
    );
  } finally {
    await admin.quit();
    await app.close();
    await redisServer.stop();
  }
}
