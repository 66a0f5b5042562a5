import type { Redis } from 'ioredis';
import { measureFootprint } from '../measure/footprint.js';

/** What Redis' Lua engine charges, measured on this server (µs of Redis time). */
export interface LuaPrices {
  /** An EVALSHA that does nothing. */
  scriptUs: number;
  /** One redis.call of a trivial command (TIME), beyond the script. */
  callUs: number;
  /** One new ~800 B string made inside the script (a concatenation, as a stored value is built). */
  string800Us: number;
  /** 25 values of ~800 B read into Lua by one HMGET, beyond the call itself. */
  pageInUs: number;
  /** The same HMGET of 25 values of 8 B: the difference is what the bytes cost. */
  smallPageInUs: number;
  /** 25 values of ~800 B returned from Lua to the client. */
  pageOutUs: number;
}

const VALUE = 'x'.repeat(800);
const FIELDS = Array.from({ length: 25 }, (_, i) => `f${i}`);
const KEY = 'bench:lua-prices';
const SMALL_KEY = 'bench:lua-prices-small';

const SCRIPTS = {
  benchLuaEmpty: 'return 1',
  benchLuaCalls: "for i = 1, 10 do redis.call('TIME') end return 1",
  benchLuaStrings: 'local t = {} for i = 1, 10 do t[i] = ARGV[1] .. i end return 1',
  benchLuaPageIn: `local v = redis.call('HMGET', KEYS[1], ${FIELDS.map((f) => `'${f}'`).join(', ')}) return 1`,
  benchLuaPageOut: 'local t = {} for i = 1, 25 do t[i] = ARGV[1] end return t',
  benchLuaOneCall: "redis.call('TIME') return 1",
} as const;

type Script = (key: string, arg: string) => Promise<unknown>;

/** Prices of the Lua engine's basic moves, from the difference of tiny scripts' Redis times. */
export async function measureLuaPrices(
  client: Redis,
  admin: Redis,
  iterations: number,
): Promise<LuaPrices> {
  const scripts = client as unknown as Record<string, Script>;
  for (const [name, lua] of Object.entries(SCRIPTS)) {
    if (typeof scripts[name] !== 'function') client.defineCommand(name, { numberOfKeys: 1, lua });
  }
  await client.hset(KEY, ...FIELDS.flatMap((f) => [f, VALUE]));
  await client.hset(SMALL_KEY, ...FIELDS.flatMap((f) => [f, 'xxxxxxxx']));
  const cost = async (name: keyof typeof SCRIPTS, key = KEY) => {
    await scripts[name]!(key, VALUE);
    return (await measureFootprint(admin, () => scripts[name]!(key, VALUE), iterations)).redisUs;
  };
  const empty = await cost('benchLuaEmpty');
  const oneCall = await cost('benchLuaOneCall');
  const prices: LuaPrices = {
    scriptUs: empty,
    callUs: ((await cost('benchLuaCalls')) - empty) / 10,
    string800Us: ((await cost('benchLuaStrings')) - empty) / 10,
    pageInUs: (await cost('benchLuaPageIn')) - oneCall,
    smallPageInUs: (await cost('benchLuaPageIn', SMALL_KEY)) - oneCall,
    pageOutUs: (await cost('benchLuaPageOut')) - empty,
  };
  await client.del(KEY, SMALL_KEY);
  return prices;
}
