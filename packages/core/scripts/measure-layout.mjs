#!/usr/bin/env node
// Would the lease deadline (the field every heartbeat changes) be better kept apart from the run's
// payload? Compares, on a throwaway redis-server with one replica, three layouts of 10,000 runs:
//   A  today: the deadline inside the run value (a heartbeat rewrites the whole value)
//   B  hot fields apart: a second hash id -> queuedAt, startedAt, deadline; the value keeps the rest
//   C  the deadline only in the lease sorted set (a page reads it with ZMSCORE)
// and the hash-only layout of the original guide, for memory. Prints, per payload size: memory
// per run (and its ratio to hash-only), server time per heartbeat and per page script (INFO
// commandstats), and bytes replicated per heartbeat. docs/ARCHITECTURE.md quotes a run.
//
//   node scripts/measure-layout.mjs
import { startRedisServer } from '@active-runs/test-utils';
import { Redis } from 'ioredis';

const N = 10_000;
const PAGE = 25;
const master = await startRedisServer();
const replica = await startRedisServer({ args: ['--replicaof', '127.0.0.1', String(master.port)] });
const r = new Redis(master.url, { commandTimeout: 30_000 });
await new Promise((res) => setTimeout(res, 1000));

const T = 2 ** 44;
function payload(size) {
  const base = {
    model: 'gpt-4o',
    params: { temperature: 0.2, top_p: 1 },
    user: 'u-123456',
    pad: '',
  };
  const s = JSON.stringify(base);
  base.pad = 'x'.repeat(Math.max(0, size - s.length));
  return JSON.stringify(base);
}

const PAGE_A = `
local ids = redis.call('ZRANGE', KEYS[1], 0, ${PAGE - 1}, 'REV')
local values = redis.call('HMGET', KEYS[2], unpack(ids))
local out = {}
for j = 1, #ids do out[#out + 1] = ids[j]; out[#out + 1] = values[j] end
return out`;
const PAGE_B = `
local ids = redis.call('ZRANGE', KEYS[1], 0, ${PAGE - 1}, 'REV')
local values = redis.call('HMGET', KEYS[2], unpack(ids))
local hot = redis.call('HMGET', KEYS[3], unpack(ids))
local out = {}
for j = 1, #ids do out[#out + 1] = ids[j]; out[#out + 1] = hot[j]; out[#out + 1] = values[j] end
return out`;
const PAGE_C = `
local ids = redis.call('ZRANGE', KEYS[1], 0, ${PAGE - 1}, 'REV')
local values = redis.call('HMGET', KEYS[2], unpack(ids))
local hot = redis.call('ZMSCORE', KEYS[3], unpack(ids))
local out = {}
for j = 1, #ids do out[#out + 1] = ids[j]; out[#out + 1] = hot[j]; out[#out + 1] = values[j] end
return out`;
// heartbeat, current: whole value rewritten
const HB_A = `
local v = redis.call('HGET', KEYS[1], ARGV[1])
local ls = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[1]))
local a = string.find(v, '\\n', 1, true)
local b = string.find(v, '\\n', a + 1, true)
local c = string.find(v, '\\n', b + 1, true)
local nd = string.format('%.0f', tonumber(ARGV[2]))
v = string.sub(v, 1, b) .. nd .. string.sub(v, c)
redis.call('HSET', KEYS[1], ARGV[1], v)
redis.call('ZADD', KEYS[2], nd, ARGV[1])
return 1`;
// heartbeat, hot hash: only the small value
const HB_B = `
local h = redis.call('HGET', KEYS[1], ARGV[1])
local ls = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[1]))
local a = string.find(h, '\\n', 1, true)
local b = string.find(h, '\\n', a + 1, true)
local nd = string.format('%.0f', tonumber(ARGV[2]))
redis.call('HSET', KEYS[1], ARGV[1], string.sub(h, 1, b) .. nd)
redis.call('ZADD', KEYS[2], nd, ARGV[1])
return 1`;
// heartbeat, deadline only in the lease set
const HB_C = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
local ls = tonumber(redis.call('ZSCORE', KEYS[2], ARGV[1]))
redis.call('ZADD', KEYS[2], string.format('%.0f', tonumber(ARGV[2])), ARGV[1])
return 1`;

async function stat(cmd) {
  const info = await r.info('commandstats');
  const m = new RegExp(`cmdstat_${cmd}:calls=(\\d+),usec=(\\d+)`).exec(info);
  return m ? { calls: Number(m[1]), usec: Number(m[2]) } : { calls: 0, usec: 0 };
}
async function replOffset() {
  const info = await r.info('replication');
  return Number(/master_repl_offset:(\d+)/.exec(info)[1]);
}
async function usedMemory() {
  const info = await r.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)[1]);
}

async function timeScript(lua, keys, argsOf, n) {
  const sha = await r.script('LOAD', lua);
  await r.config('RESETSTAT');
  const off0 = await replOffset();
  for (let i = 0; i < n; i += 100) {
    const p = r.pipeline();
    for (let j = i; j < Math.min(n, i + 100); j++)
      p.evalsha(sha, keys.length, ...keys, ...argsOf(j));
    await p.exec();
  }
  const s = await stat('evalsha');
  const off1 = await replOffset();
  return { usPerCall: s.usec / s.calls, replBytesPerCall: (off1 - off0) / n };
}

const results = [];
for (const size of [800, 280, 8000]) {
  const data = payload(size);
  const now = Date.now();
  // hash-only baseline
  let m0 = await usedMemory();
  for (let i = 0; i < N; i += 500) {
    const p = r.pipeline();
    for (let j = i; j < i + 500; j++)
      p.hset(
        'base:runs',
        `3f2a9c1e-0000-4000-8000-${String(j).padStart(12, '0')}`,
        `{"id":"x","status":"running","queuedAt":${now},"startedAt":${now},"source":"api","caption":"step 3","data":${data}}`,
      );
    await p.exec();
  }
  const baseline = ((await usedMemory()) - m0) / N;
  await r.del('base:runs');
  const layouts = {};
  for (const L of ['A', 'B', 'C']) {
    m0 = await usedMemory();
    for (let i = 0; i < N; i += 500) {
      const p = r.pipeline();
      for (let j = i; j < i + 500; j++) {
        const id = `3f2a9c1e-0000-4000-8000-${String(j).padStart(12, '0')}`;
        const dl = now + 60_000;
        p.zadd(`${L}:idx`, T + now + j, id);
        p.zadd(`${L}:lease`, 2 * T + T + dl, id);
        p.zadd(`${L}:src`, 2 * T + T + now + j, id);
        if (L === 'A') p.hset(`${L}:runs`, id, `${now}\n${now + j}\n${dl}\napi\n"step 3"\n${data}`);
        if (L === 'B') {
          p.hset(`${L}:runs`, id, `api\n"step 3"\n${data}`);
          p.hset(`${L}:hot`, id, `${now}\n${now + j}\n${dl}`);
        }
        if (L === 'C') p.hset(`${L}:runs`, id, `${now}\n${now + j}\napi\n"step 3"\n${data}`);
      }
      await p.exec();
    }
    const perRun = ((await usedMemory()) - m0) / N;
    const idOf = (j) => `3f2a9c1e-0000-4000-8000-${String(j % N).padStart(12, '0')}`;
    const hb =
      L === 'A'
        ? await timeScript(HB_A, [`A:runs`, `A:lease`], (j) => [idOf(j), now + 90_000 + j], 5000)
        : L === 'B'
          ? await timeScript(HB_B, [`B:hot`, `B:lease`], (j) => [idOf(j), now + 90_000 + j], 5000)
          : await timeScript(HB_C, [`C:runs`, `C:lease`], (j) => [idOf(j), now + 90_000 + j], 5000);
    const page =
      L === 'A'
        ? await timeScript(PAGE_A, [`A:idx`, `A:runs`], () => [], 3000)
        : L === 'B'
          ? await timeScript(PAGE_B, [`B:idx`, `B:runs`, `B:hot`], () => [], 3000)
          : await timeScript(PAGE_C, [`C:idx`, `C:runs`, `C:lease`], () => [], 3000);
    layouts[L] = {
      perRun: Math.round(perRun),
      ratio: +(perRun / baseline).toFixed(2),
      hbUs: +hb.usPerCall.toFixed(2),
      hbRepl: Math.round(hb.replBytesPerCall),
      pageUs: +page.usPerCall.toFixed(2),
    };
    await r.del(`${L}:idx`, `${L}:lease`, `${L}:src`, `${L}:runs`, `${L}:hot`);
  }
  results.push({ size, baseline: Math.round(baseline), ...layouts });
}
console.log(JSON.stringify(results, null, 1));
r.disconnect();
await replica.stop();
await master.stop();
