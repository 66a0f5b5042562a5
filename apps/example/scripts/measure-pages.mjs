#!/usr/bin/env node
// Times pages of a small project and of acme/bulk over HTTP, against a running example:
//   npm start -- --seed 100000          (in one terminal, at the repo root)
//   node apps/example/scripts/measure-pages.mjs http://localhost:3000
// Prints p50/p90 of 40 requests each: the first page, the 51st page (by cursor), a page filtered
// by status and source, and the counts.
const base = (process.argv[2] ?? 'http://localhost:3000').replace(/\/$/, '');
const REQUESTS = 40;

async function post(path, body, cookie = '') {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie },
    body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return response.headers.getSetCookie().map((line) => line.split(';')[0]);
}

async function signIn(workspaceId, projectId) {
  const [session] = await post('/auth/login', { workspaceId });
  const [project] = await post('/auth/project', { projectId }, session);
  return `${session}; ${project}`;
}

async function time(path, cookie) {
  const ms = [];
  let body;
  for (let i = 0; i < REQUESTS; i++) {
    const started = performance.now();
    body = await (await fetch(`${base}${path}`, { headers: { cookie } })).json();
    ms.push(performance.now() - started);
  }
  ms.sort((a, b) => a - b);
  const at = (q) => ms[Math.floor(q * (REQUESTS - 1))].toFixed(1);
  return { text: `p50 ${at(0.5)} ms, p90 ${at(0.9)} ms`, body };
}

for (const [workspaceId, projectId] of [
  ['acme', 'assistant'],
  ['acme', 'bulk'],
]) {
  const cookie = await signIn(workspaceId, projectId);
  const first = await time('/api/runs/active?limit=20', cookie);
  let cursor = first.body.nextCursor;
  for (let page = 2; page <= 50 && cursor; page++) {
    const query = `limit=20&cursor=${encodeURIComponent(cursor)}`;
    cursor = (
      await (await fetch(`${base}/api/runs/active?${query}`, { headers: { cookie } })).json()
    ).nextCursor;
  }
  const deep = cursor
    ? (await time(`/api/runs/active?limit=20&cursor=${encodeURIComponent(cursor)}`, cookie)).text
    : 'no 51st page';
  const filtered = await time('/api/runs/active?limit=20&status=queued&source=batch', cookie);
  const counts = await time('/api/runs/active/counts', cookie);
  console.log(`${workspaceId}/${projectId}: ${first.body.total} runs`);
  console.log(`  first page ${first.text}; 51st page ${deep}`);
  console.log(`  queued+batch ${filtered.text}; counts ${counts.text}`);
}
