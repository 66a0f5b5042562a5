/** Order statistics and the scaling fit used by every table. */

/** The q-quantile (0..1) of samples, by nearest rank; NaN for no samples. */
export function quantile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export function median(samples: readonly number[]): number {
  return quantile(samples, 0.5);
}

export function p99(samples: readonly number[]): number {
  return quantile(samples, 0.99);
}

/**
 * Exponent k of cost ~ N^k: the least-squares slope of log(cost) against log(N). 0 is flat
 * (O(1) or O(log N) in practice), 1 is linear. NaN with fewer than two sizes.
 */
export function scalingExponent(points: readonly { n: number; cost: number }[]): number {
  const usable = points.filter((p) => p.n > 0 && p.cost > 0 && Number.isFinite(p.cost));
  if (usable.length < 2) return Number.NaN;
  const xs = usable.map((p) => Math.log(p.n));
  const ys = usable.map((p) => Math.log(p.cost));
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < xs.length; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return num / den;
}
