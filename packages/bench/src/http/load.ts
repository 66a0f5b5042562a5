import autocannon from 'autocannon';
import { median } from '../measure/stats.js';

/** autocannon's settings, the same for every row. */
export interface LoadSettings {
  /** Concurrent keep-alive connections. */
  readonly connections: number;
  /** Requests in flight per connection. */
  readonly pipelining: number;
  /** Seconds of one measured round of one row. */
  readonly roundS: number;
  /** Rounds per row, interleaved with the other rows of the same app. */
  readonly rounds: number;
  /** Seconds of load before a row's first round, not counted (JIT, connection set-up). */
  readonly warmupS: number;
}

/** One row's figures over its rounds. */
export interface LoadResult {
  /**
   * Median over rounds of the round's 2xx responses per second: a stall of the shared machine
   * during one round moves it less than a total over all rounds would.
   */
  requestsPerS: number;
  /** Each round's 2xx responses per second, in the order they ran. */
  roundsPerS: number[];
  /** Medians over rounds of autocannon's latency p50 and p99, ms (its histogram has 1 ms resolution). */
  latencyP50Ms: number;
  latencyP99Ms: number;
  /** 2xx responses over every round. */
  requests: number;
  /** Responses that were not 2xx, and connection errors: both should be 0. */
  non2xx: number;
  errors: number;
  /** Bytes received per response (headers and body), so rows serving the same bytes show it. */
  bytesPerResponse: number;
}

/** One autocannon run against `url`. */
export function autocannonRound(
  url: string,
  headers: Record<string, string>,
  settings: LoadSettings,
  durationS: number,
): Promise<autocannon.Result> {
  return autocannon({
    url,
    headers,
    connections: settings.connections,
    pipelining: settings.pipelining,
    duration: durationS,
  });
}

/** A row's rounds: medians of the rounds' rates and latencies, totals of the counts. */
export function summarize(rounds: readonly autocannon.Result[]): LoadResult {
  const sum = (f: (r: autocannon.Result) => number) => rounds.reduce((s, r) => s + f(r), 0);
  const roundsPerS = rounds.map((r) => r['2xx'] / r.duration);
  const completed = sum((r) => r.requests.total);
  return {
    requestsPerS: median(roundsPerS),
    roundsPerS,
    latencyP50Ms: median(rounds.map((r) => r.latency.p50)),
    latencyP99Ms: median(rounds.map((r) => r.latency.p99)),
    requests: sum((r) => r['2xx']),
    non2xx: sum((r) => r.non2xx),
    errors: sum((r) => r.errors),
    bytesPerResponse: completed > 0 ? sum((r) => r.throughput.total) / completed : Number.NaN,
  };
}

/** A row to load: a URL of one app and the headers of its caller. */
export interface LoadRow {
  readonly id: string;
  readonly url: string;
  readonly headers: Record<string, string>;
}

/**
 * Loads every row of one app, `rounds` times, alternating the order each round so no row
 * always runs first (after the warm-up) or last: noise on the shared machine falls on all rows.
 */
export async function loadRows(
  rows: readonly LoadRow[],
  settings: LoadSettings,
  log: (message: string) => void,
): Promise<Map<string, LoadResult>> {
  if (settings.warmupS > 0) {
    for (const row of rows) await autocannonRound(row.url, row.headers, settings, settings.warmupS);
  }
  const results = new Map<string, autocannon.Result[]>(rows.map((row) => [row.id, []]));
  for (let round = 0; round < settings.rounds; round++) {
    const ordered = round % 2 === 0 ? rows : [...rows].reverse();
    for (const row of ordered) {
      const result = await autocannonRound(row.url, row.headers, settings, settings.roundS);
      results.get(row.id)!.push(result);
      log(`  ${row.id} round ${round + 1}: ${Math.round(result['2xx'] / result.duration)} req/s`);
    }
  }
  return new Map([...results].map(([id, rounds]) => [id, summarize(rounds)]));
}
