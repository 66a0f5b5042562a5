/** Markdown and number formatting shared by every section. */

/** A GitHub-flavoured markdown table. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(headers), line(headers.map(() => '---')), ...rows.map(line)].join('\n');
}

function finite(value: number, format: (v: number) => string): string {
  return Number.isFinite(value) ? format(value) : '–';
}

/** 2.61× */
export function times(value: number): string {
  return finite(
    value,
    (v) => `${v >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(2)}×`,
  );
}

/** 12.3 µs / 1.25 ms / 2.10 s */
export function duration(us: number): string {
  return finite(us, (v) => {
    if (v >= 1_000_000) return `${(v / 1_000_000).toFixed(2)} s`;
    if (v >= 1_000) return `${(v / 1_000).toFixed(2)} ms`;
    return `${v.toFixed(1)} µs`;
  });
}

/** 812 B / 3.4 KiB / 12.5 MiB */
export function bytes(value: number): string {
  return finite(value, (v) => {
    if (Math.abs(v) >= 1024 * 1024) return `${(v / 1024 / 1024).toFixed(1)} MiB`;
    if (Math.abs(v) >= 1024) return `${(v / 1024).toFixed(1)} KiB`;
    return `${Math.round(v)} B`;
  });
}

/** 1,000,000 */
export function count(value: number): string {
  return finite(value, (v) => Math.round(v).toLocaleString('en-US'));
}

/** 1k, 10k, 1M */
export function size(n: number): string {
  if (n >= 1_000_000 && n % 1_000_000 === 0) return `${n / 1_000_000}M`;
  if (n >= 1_000 && n % 1_000 === 0) return `${n / 1_000}k`;
  return String(n);
}

/** +0.012 */
export function signed(value: number, digits = 3): string {
  return finite(value, (v) => `${v >= 0 ? '+' : ''}${v.toFixed(digits)}`);
}

/** 42% */
export function percent(value: number): string {
  return finite(value, (v) => `${Math.round(v * 100)}%`);
}
