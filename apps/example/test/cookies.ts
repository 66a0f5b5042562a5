/** The `cookie` header a browser sends after these Set-Cookie lines (a later cookie replaces one). */
export function cookieJar(setCookies: readonly string[], before = ''): string {
  const jar = new Map<string, string>();
  const add = (pair: string) => {
    const at = pair.indexOf('=');
    jar.set(pair.slice(0, at), pair.slice(at + 1));
  };
  for (const pair of before.split('; ').filter(Boolean)) add(pair);
  for (const line of setCookies) add(line.split(';')[0]!);
  return [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
}
