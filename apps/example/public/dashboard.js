// @ts-check
/**
 * The dashboard: one page of the active runs of the signed-in project, kept live by the API's
 * event stream (`EventSource`), with counts, filters, cursor paging and the demo login.
 * Plain DOM, no build step; the list logic lives in page-model.js.
 */
import {
  applyCounts,
  applyEvent,
  formatDuration,
  movesCounts,
  pageView,
  totalFromCounts,
} from './page-model.js';

/**
 * @typedef {import('./page-model.js').Run} Run
 * @typedef {import('./page-model.js').Counts} Counts
 * @typedef {import('./page-model.js').PageView} PageView
 * @typedef {import('./page-model.js').SortKey} SortKey
 * @typedef {import('./page-model.js').LiveEvent} LiveEvent
 * @typedef {{ id: string, name: string, projects: { id: string, name: string }[] }} Workspace
 * @typedef {{ session: { workspaceId: string, projectId: string } | null,
 *   workspaces: Workspace[], server: string }} SessionBody
 * @typedef {'connecting' | 'live' | 'down' | 'recovered'} LiveState
 */

const API = '/api/runs/active';
/** Change events the page applies; any other event type is ignored (EventSource drops it). */
const LIVE_TYPES = ['queued', 'started', 'progress', 'ended', 'expired', 'heartbeat'];
/** After changes that move the counts, they are re-read once this long after the first. */
const COUNTS_SETTLE_MS = 2_000;
/** How long "live again" shows before it reads "live". */
const RECOVERED_MS = 5_000;
const RECONNECT_MAX_MS = 15_000;
const RESIGN_MS = 5_000;

/** @param {string} id */
function $(id) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from the page`);
  return element;
}
/** @param {string} id */
const select = (id) => /** @type {HTMLSelectElement} */ ($(id));
/** @param {string} id */
const button = (id) => /** @type {HTMLButtonElement} */ ($(id));

class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/**
 * @param {string} path
 * @param {unknown} [body] sent as JSON with a POST
 * @returns {Promise<any>}
 */
async function api(path, body) {
  /** @type {RequestInit} */
  const init =
    body === undefined
      ? { headers: { accept: 'application/json' } }
      : {
          method: 'POST',
          headers: { accept: 'application/json', 'content-type': 'application/json' },
          body: JSON.stringify(body),
        };
  const response = await fetch(path, init);
  const answer = await response.json().catch(() => null);
  if (!response.ok) {
    const error = answer?.error ?? {};
    throw new ApiError(response.status, error.code ?? '', error.message ?? response.statusText);
  }
  return answer;
}

const state = {
  /** @type {SessionBody['session']} */
  session: null,
  /** @type {Workspace[]} */
  workspaces: [],
  filters: { status: '', source: '' },
  pageSize: 20,
  /** The pages before this one: where each was loaded from. @type {{ cursor: string | null, after: SortKey | null }[]} */
  history: [],
  /** @type {string | null} */
  cursor: null,
  /** @type {SortKey | null} */
  after: null,
  /** @type {PageView | null} */
  view: null,
  /** @type {string | null} */
  nextCursor: null,
  /** @type {Counts | null} */
  counts: null,
  /** Bumped by every page load: an older answer is dropped. */
  loads: 0,
  /** Events that arrived while a page was loading, replayed onto it. @type {LiveEvent[] | null} */
  pending: null,
  /** @type {number | undefined} */
  countsTimer: undefined,
  /** Runs that a live event brought onto the page since the last render: they flash. */
  arrived: new Set(),
  /** When the page last signed in again by itself (at most once per {@link RESIGN_MS}). */
  signedInAt: 0,
};

// ---------------------------------------------------------------- errors

/** @param {unknown} error */
function showError(error) {
  const element = $('error');
  element.textContent = error instanceof Error ? error.message : String(error);
  element.hidden = false;
}
function clearError() {
  $('error').hidden = true;
}
/**
 * Runs an action of the page; its failure is shown on the page, never thrown at the console.
 * @param {() => Promise<unknown>} action
 */
function attempt(action) {
  action().then(clearError, (error) => {
    if (
      error instanceof ApiError &&
      error.status === 401 &&
      Date.now() - state.signedInAt > RESIGN_MS
    ) {
      // the servers restarted with a new secret, or the session expired: sign in again
      state.signedInAt = Date.now();
      void signIn(state.session?.workspaceId, state.session?.projectId).catch(showError);
      return;
    }
    showError(error);
  });
}

// ---------------------------------------------------------------- the demo login

/** @param {SessionBody} body */
function setSession(body) {
  state.session = body.session;
  state.workspaces = body.workspaces;
  $('server').textContent =
    body.server === 'nestjs'
      ? 'the NestJS module (@active-runs/nestjs)'
      : 'the Fastify plugin (@active-runs/fastify)';
  renderSwitcher();
}

/**
 * Signs in as a workspace (the first demo workspace if not given), on one of its projects.
 * @param {string} [workspaceId]
 * @param {string} [projectId] the workspace's first project if not given
 */
async function signIn(workspaceId, projectId) {
  const id = workspaceId ?? state.workspaces[0]?.id;
  let body = /** @type {SessionBody} */ (await api('/auth/login', { workspaceId: id }));
  if (projectId && body.session && projectId !== body.session.projectId) {
    body = await api('/auth/project', { projectId });
  }
  setSession(body);
  switchScope();
}

/** Signs in again if the session is gone (expired, or the demo restarted with a new secret). */
async function ensureSession() {
  const previous = state.session;
  const body = /** @type {SessionBody} */ (await api('/auth/session'));
  setSession(body);
  if (!body.session) await signIn(previous?.workspaceId, previous?.projectId);
}

function renderSwitcher() {
  const workspaceSelect = select('workspace');
  const projectSelect = select('project');
  workspaceSelect.replaceChildren(
    ...state.workspaces.map((workspace) => new Option(workspace.name, workspace.id)),
  );
  const session = state.session;
  if (!session) return;
  workspaceSelect.value = session.workspaceId;
  const workspace = state.workspaces.find((w) => w.id === session.workspaceId);
  const projects = [...(workspace?.projects ?? [])];
  if (!projects.some((project) => project.id === session.projectId)) {
    projects.push({ id: session.projectId, name: session.projectId });
  }
  projectSelect.replaceChildren(...projects.map((project) => new Option(project.name, project.id)));
  projectSelect.value = session.projectId;
}

/** Another workspace or project: another scope, so another page, counts and event stream. */
function switchScope() {
  state.view = null;
  state.counts = null;
  resetPaging();
  render();
  connectLive();
}

// ---------------------------------------------------------------- loading

function resetPaging() {
  state.history = [];
  state.cursor = null;
  state.after = null;
}

function pageQuery() {
  const query = new URLSearchParams({ limit: String(state.pageSize) });
  if (state.filters.status) query.set('status', state.filters.status);
  if (state.filters.source) query.set('source', state.filters.source);
  if (state.cursor) query.set('cursor', state.cursor);
  return query;
}

async function loadPage() {
  const load = ++state.loads;
  state.pending = [];
  const page = await api(`${API}?${pageQuery()}`);
  if (load !== state.loads) return;
  let view = pageView(page, state.after);
  for (const event of state.pending) {
    view = applyEvent(view, event, state.filters, { adjustTotal: false });
  }
  state.pending = null;
  state.view = view;
  state.nextCursor = page.nextCursor;
  render();
}

async function loadCounts() {
  window.clearTimeout(state.countsTimer);
  state.countsTimer = undefined;
  state.counts = await api(`${API}/counts`);
  const total = totalFromCounts(state.filters, /** @type {Counts} */ (state.counts));
  if (state.view && total !== undefined) state.view = { ...state.view, total };
  render();
}

/** Counts moved by events are re-read soon: a fetch that raced the stream is settled. */
function settleCountsSoon() {
  if (state.countsTimer === undefined) {
    state.countsTimer = window.setTimeout(() => attempt(loadCounts), COUNTS_SETTLE_MS);
  }
}

function reload() {
  attempt(() => Promise.all([loadPage(), loadCounts()]));
}

// ---------------------------------------------------------------- live updates

/** @type {EventSource | null} */
let source = null;
/** @type {LiveState} */
let liveState = 'connecting';
let wasDown = false;
let reconnectMs = 1_000;
/** @type {number | undefined} */
let reconnectTimer;
/** @type {number | undefined} */
let recoveredTimer;

/** @param {LiveState} next */
function setLive(next) {
  liveState = next;
  const marker = $('live');
  marker.dataset.state = next;
  $('live-text').textContent = {
    connecting: 'Connecting…',
    live: 'Live',
    down: 'Live updates lost: reconnecting…',
    recovered: 'Live again: page reloaded',
  }[next];
  window.clearTimeout(recoveredTimer);
  if (next === 'recovered') {
    recoveredTimer = window.setTimeout(() => setLive('live'), RECOVERED_MS);
  }
}

function connectLive() {
  source?.close();
  window.clearTimeout(reconnectTimer);
  const events = new EventSource(`${API}/events`);
  source = events;
  // first on every connection, and whenever changes may have been missed: load afresh
  events.addEventListener('gap', () => {
    if (source !== events) return;
    reconnectMs = 1_000;
    setLive(wasDown ? 'recovered' : 'live');
    wasDown = false;
    reload();
  });
  for (const type of LIVE_TYPES) {
    events.addEventListener(type, (message) => {
      if (source === events) onLiveEvent(type, message.data);
    });
  }
  events.addEventListener('error', () => {
    if (source !== events) return;
    if (liveState !== 'connecting' || events.readyState === EventSource.CLOSED) {
      wasDown = true;
      setLive('down');
    }
    // CONNECTING: the browser retries by itself. CLOSED: the server refused the stream (a 401
    // after a restart with a new secret, a 503 while Redis is away): retry, signing in again
    if (events.readyState === EventSource.CLOSED) reconnectLater(events);
  });
}

/**
 * Opens the stream again after a pause that doubles up to 15 s, signing in again first if the
 * session is gone; while the server does not answer, tries again later.
 * @param {EventSource} events the stream that closed
 */
function reconnectLater(events) {
  window.clearTimeout(reconnectTimer);
  reconnectTimer = window.setTimeout(async () => {
    if (source !== events) return;
    try {
      await ensureSession();
      if (source === events) connectLive();
    } catch {
      reconnectLater(events);
    }
  }, reconnectMs);
  reconnectMs = Math.min(reconnectMs * 2, RECONNECT_MAX_MS);
}

/**
 * @param {string} type the SSE event name
 * @param {string} data its JSON
 */
function onLiveEvent(type, data) {
  /** @type {LiveEvent} */
  let event;
  try {
    event = { ...JSON.parse(data), type };
  } catch {
    return; // not JSON: not for this page
  }
  if (state.pending) state.pending.push(event);
  if (event.type === 'queued' || event.type === 'started') state.arrived.add(event.id);
  if (state.view) {
    state.view = applyEvent(state.view, event, state.filters);
    // a busy first page only grows: load it afresh beyond twice its size
    if (state.view.items.length > state.pageSize * 2) attempt(loadPage);
  }
  if (state.counts && movesCounts(event)) {
    const counts = applyCounts(state.counts, event);
    if (counts) state.counts = counts;
    settleCountsSoon();
  }
  scheduleRender();
}

// ---------------------------------------------------------------- rendering

let renderQueued = false;
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  window.requestAnimationFrame(() => {
    renderQueued = false;
    render();
  });
}

/**
 * @param {Element} element
 * @param {string} text
 */
function setText(element, text) {
  if (element.textContent !== text) element.textContent = text;
}

const numberFormat = new Intl.NumberFormat('en-US');
/** @type {Map<string, HTMLTableRowElement>} */
const rowsById = new Map();

/** @param {Run} run */
function createRow(run) {
  const row = document.createElement('tr');
  row.dataset.runId = run.id;
  for (const name of ['status', 'source', 'id', 'caption', 'model', 'tokens', 'age', 'lease']) {
    const cell = row.insertCell();
    cell.className = name;
  }
  const id = /** @type {HTMLElement} */ (row.cells[2]);
  id.textContent = run.id.length > 12 ? `${run.id.slice(0, 8)}…` : run.id;
  id.title = run.id;
  return row;
}

/**
 * @param {HTMLTableRowElement} row
 * @param {Run} run
 * @param {number} now
 */
function fillRow(row, run, now) {
  const [status, source, , caption, model, tokens, age, lease] = /** @type {HTMLElement[]} */ ([
    ...row.cells,
  ]);
  const data = /** @type {{ model?: unknown, tokens?: unknown } | null} */ (run.data);
  row.dataset.status = run.status;
  setText(/** @type {HTMLElement} */ (status), run.status);
  setText(/** @type {HTMLElement} */ (source), run.source ?? '–');
  setText(/** @type {HTMLElement} */ (caption), run.caption ?? '');
  setText(/** @type {HTMLElement} */ (model), typeof data?.model === 'string' ? data.model : '');
  setText(
    /** @type {HTMLElement} */ (tokens),
    typeof data?.tokens === 'number' ? numberFormat.format(data.tokens) : '',
  );
  const since = run.status === 'running' ? (run.startedAt ?? run.queuedAt) : run.queuedAt;
  setText(/** @type {HTMLElement} */ (age), formatDuration(now - since));
  const left = run.leaseExpiresAt - now;
  setText(/** @type {HTMLElement} */ (lease), left > 0 ? formatDuration(left) : 'lapsed');
  /** @type {HTMLElement} */ (lease).classList.toggle('lapsed', left <= 0);
}

function renderRows() {
  const body = $('rows');
  const items = state.view?.items ?? [];
  const now = Date.now();
  const shown = new Set();
  /** @type {ChildNode | null} */
  let before = body.firstChild;
  for (const run of items) {
    let row = rowsById.get(run.id);
    if (!row) {
      row = createRow(run);
      rowsById.set(run.id, row);
      if (state.arrived.has(run.id)) row.classList.add('new');
    }
    fillRow(row, run, now);
    if (row !== before) body.insertBefore(row, before);
    before = row.nextSibling;
    shown.add(run.id);
  }
  for (const [id, row] of rowsById) {
    if (shown.has(id)) continue;
    row.remove();
    rowsById.delete(id);
  }
  state.arrived.clear();
  $('empty').hidden = !state.view || items.length > 0;
}

function renderCounts() {
  const counts = state.counts;
  const format = (/** @type {number | undefined} */ value) =>
    value === undefined ? '–' : numberFormat.format(value);
  setText($('count-total'), format(counts?.total));
  setText($('count-running'), format(counts?.byStatus.running));
  setText($('count-queued'), format(counts?.byStatus.queued));
  const sources = Object.entries(counts?.bySource ?? {}).sort((a, b) => b[1] - a[1]);
  const chips = $('count-sources');
  chips.replaceChildren(
    ...sources.map(([name, count]) => {
      const chip = document.createElement('button');
      chip.type = 'button';
      chip.className = 'chip';
      chip.dataset.source = name;
      chip.setAttribute('aria-pressed', String(state.filters.source === name));
      chip.append(
        `${name} `,
        Object.assign(document.createElement('b'), { textContent: format(count) }),
      );
      return chip;
    }),
  );
  // the source filter offers the sources active now, and the one chosen
  const names = new Set(sources.map(([name]) => name));
  if (state.filters.source) names.add(state.filters.source);
  const sourceSelect = select('source');
  const offered = [...sourceSelect.options].slice(1).map((option) => option.value);
  const wanted = [...names].sort();
  if (offered.join('\n') !== wanted.join('\n')) {
    sourceSelect.replaceChildren(
      new Option('any', ''),
      ...wanted.map((name) => new Option(name, name)),
    );
  }
  sourceSelect.value = state.filters.source;
}

function renderPager() {
  const view = state.view;
  const page = state.history.length + 1;
  const info = view
    ? `Page ${page} · ${view.items.length} shown · ${numberFormat.format(view.total)} matching`
    : `Page ${page}`;
  setText($('page-info'), info);
  button('back').disabled = state.history.length === 0;
  button('next').disabled = !view || state.nextCursor === null;
  /** @type {HTMLAnchorElement} */ ($('api-link')).href = `${API}?${pageQuery()}`;
}

function render() {
  renderRows();
  renderCounts();
  renderPager();
}

// ---------------------------------------------------------------- controls

function wireControls() {
  for (const form of ['who', 'filters']) {
    $(form).addEventListener('submit', (event) => event.preventDefault());
  }
  select('workspace').addEventListener('change', (event) => {
    const workspaceId = /** @type {HTMLSelectElement} */ (event.target).value;
    attempt(() => signIn(workspaceId));
  });
  select('project').addEventListener('change', (event) => {
    const projectId = /** @type {HTMLSelectElement} */ (event.target).value;
    attempt(async () => {
      setSession(await api('/auth/project', { projectId }));
      switchScope();
    });
  });
  const onFilter = () => {
    state.filters = { status: select('status').value, source: select('source').value };
    state.pageSize = Number(select('page-size').value);
    resetPaging();
    attempt(loadPage);
  };
  for (const id of ['status', 'source', 'page-size'])
    select(id).addEventListener('change', onFilter);
  $('count-sources').addEventListener('click', (event) => {
    const chip = /** @type {HTMLElement} */ (event.target).closest('.chip');
    if (!(chip instanceof HTMLElement)) return;
    const name = chip.dataset.source ?? '';
    select('source').value = state.filters.source === name ? '' : name;
    onFilter();
  });
  button('next').addEventListener('click', () => {
    if (!state.view || state.nextCursor === null) return;
    state.history.push({ cursor: state.cursor, after: state.after });
    // the next page starts after this page's last row as loaded: its cursor's position
    state.after = state.view.until;
    state.cursor = state.nextCursor;
    attempt(loadPage);
  });
  button('back').addEventListener('click', () => {
    const previous = state.history.pop();
    if (!previous) return;
    state.cursor = previous.cursor;
    state.after = previous.after;
    attempt(loadPage);
  });
}

wireControls();
// ages and leases tick
window.setInterval(scheduleRender, 1_000);
attempt(async () => {
  await ensureSession();
  if (!source) connectLive();
});
