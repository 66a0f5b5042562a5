import { Cluster, type Redis } from 'ioredis';

/**
 * Records the commands Redis runs that `match` accepts, on every master (MONITOR shows the calls a
 * Lua script makes too). `flush(key)` sends a marker command for `key` (give it the hash tag of
 * the keys watched, so it reaches the same node) and waits until MONITOR has shown it: every
 * command sent before it has then been recorded.
 */
export async function monitorCommands(client: Redis | Cluster, match: (args: string[]) => boolean) {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client];
  const monitors = await Promise.all(nodes.map((node) => node.monitor()));
  const seen: string[][] = [];
  const markers = new Set<string>();
  for (const monitor of monitors) {
    monitor.on('monitor', (_time: string, args: string[]) => {
      if (String(args[0]).toLowerCase() === 'exists' && args[1]) markers.add(args[1]);
      else if (match(args)) seen.push(args);
    });
  }
  return {
    seen,
    async flush(key: string): Promise<void> {
      await client.exists(key);
      for (let i = 0; i < 200 && !markers.has(key); i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      if (!markers.has(key)) throw new Error(`MONITOR never showed the marker ${key}`);
    },
    stop(): void {
      for (const monitor of monitors) monitor.disconnect();
    },
  };
}
