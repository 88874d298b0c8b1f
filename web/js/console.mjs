// The dispatcher console: fleet counts, the map of assets with positions (coloured by status,
// clustered when zoomed out), filters, and a drawer for the selected asset.
//
// Live: positions arrive over Server-Sent Events (GET /api/v1/events, the session cookie
// authenticates it) and move the markers in place; the browser reconnects by itself with
// `Last-Event-ID`, a `resync` reloads, a lost connection shows in the header.
//
// State lives in the URL (DESIGN.md §6): `status`, `category`, `site_id`, `q` (the search),
// `list` (the left panel's list), `asset` (the selection), `day` (its track), `heat` (the heat
// layer's metric) and `lang` in the
// query string, the map view in the hash (`#map=zoom/lat/lon`), so a link shows a
// colleague the same thing and back/forward work.
//
// Test hooks (read by api/tests/console_browser.rs): `body[data-assets-loaded]` (assets the
// map's last view holds, clustered or not), `body[data-heat-cells]` (cells of the heat layer),
// `body[data-map]` (`ready` or `failed`), `body[data-errors]` (errors.mjs),
// `window.fieldopsConsole.map`.
//
// The map is web/js/map.mjs, the drawer web/js/drawer.mjs, the lists and the search
// web/js/lists.mjs, the rental office's customers and contracts (`#office`) web/js/office.mjs.
import './errors.mjs'; // first: records every later page error for the browser tests
import './basemap.mjs'; // the pmtiles:// protocol, before the map exists
import { loadCatalogue, translate } from './i18n.mjs';
import { api, listAll } from './api.mjs';
import { setUpMap, reloadMap, livePosition, mapFilters, fitView, HEAT_MODES } from './map.mjs';
import { initDrawer, select as selectAsset, showSelection } from './drawer.mjs';
import { initLists, reload as reloadList, followLive } from './lists.mjs';
import { initOffice } from './office.mjs';

const STATUSES = ['available', 'on_rent', 'in_maintenance', 'out_of_service', 'lost', 'retired'];
// One colour per status; high contrast on the light basemap (readable in a yard). Red is kept
// for stale assets (possibly lost or damaged, GET /api/v1/alerts/stale), whatever their status.
const STATUS_COLOURS = {
  available: '#1a7f37',
  on_rent: '#0b5cad',
  in_maintenance: '#c77700',
  out_of_service: '#6e40c9',
  lost: '#3d0a0a',
  retired: '#57606a',
};
const STALE_COLOUR = '#e5252a';

// Who is signed in first: their language setting chooses the catalogue (after `?lang=`).
const me = await api('GET', '/api/v1/auth/session').catch(() => null);
const { lang, t } = await loadCatalogue({ user: me?.locale });
translate(document, t);
document.title = t('console.title');
const $ = (id) => document.getElementById(id);
const state = { stale: new Set(), counts: {}, map: null };
// A link without a map view (`#map=`) opens on the fleet, wherever in the world it is.
let frameFleet = !location.hash.includes('map=');
window.fieldopsConsole = state;

// ---- URL state ------------------------------------------------------------------------------

function params() {
  return new URLSearchParams(location.search);
}

/** Changes query parameters (null deletes) and pushes a history entry. */
function setParams(changes, { replace = false } = {}) {
  const q = params();
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === '') q.delete(k);
    else q.set(k, v);
  }
  const url = `${location.pathname}${q.size ? `?${q}` : ''}${location.hash}`;
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
}

// ---- header ---------------------------------------------------------------------------------

/**
 * The header's counts: assets with a position by status (the server's clusters of the whole
 * world, summed: the page never downloads the fleet to count it), then the alert lists'
 * totals, each counted on the server.
 */
function renderCounts(fleet) {
  const counts = $('counts');
  counts.replaceChildren();
  const add = (key, n, status) => {
    const li = document.createElement('li');
    li.dataset.count = status || key;
    if (status) li.style.setProperty('--dot', STATUS_COLOURS[status]);
    li.textContent = t(key, { n });
    counts.append(li);
  };
  if (fleet) add('console.count.positioned', fleet.total);
  for (const key of ['stale', 'off_site']) {
    if (state.counts[key] != null) {
      add(`console.count.${key}`, state.counts[key]);
      counts.lastChild.dataset.count = key;
      if (key === 'stale') counts.lastChild.style.setProperty('--dot', STALE_COLOUR);
    }
  }
  for (const s of STATUSES) {
    const n = fleet?.byStatus[s] || 0;
    if (n) add(`status.${s}.count`, n, s);
  }
}

/** Positioned assets matching the filters, by status: one aggregated read of the world. */
async function fleetCounts() {
  const q = new URLSearchParams({ bbox: '-180,-85,180,85', zoom: '0', ...mapFilters() });
  const fc = await api('GET', `/api/v1/map/assets?${q}`);
  const byStatus = {};
  for (const { properties: p } of fc.features) {
    if (p.kind === 'cluster') {
      for (const [s, n] of Object.entries(p.by_status)) byStatus[s] = (byStatus[s] || 0) + n;
    } else {
      byStatus[p.status] = (byStatus[p.status] || 0) + 1;
    }
  }
  // Where the fleet is: the first view of a link without one frames it.
  const xs = fc.features.map((f) => f.geometry.coordinates[0]);
  const ys = fc.features.map((f) => f.geometry.coordinates[1]);
  const bounds = xs.length
    ? [[Math.min(...xs), Math.min(...ys)], [Math.max(...xs), Math.max(...ys)]]
    : null;
  return { total: fc.total, byStatus, bounds };
}

// ---- filters ----------------------------------------------------------------------------------

function option(value, label) {
  const o = document.createElement('option');
  o.value = value;
  o.textContent = label;
  return o;
}

async function setUpFilters() {
  const status = $('filter-status');
  status.append(option('', t('console.filter.any')), ...STATUSES.map((s) => option(s, t(`status.${s}`))));
  const category = $('filter-category');
  category.append(option('', t('console.filter.any')));
  try {
    const cats = await listAll('/api/v1/categories', {}, 4);
    category.append(...cats.map((c) => option(c.name, c.name)));
  } catch {
    // A role that may not list categories still filters by the one in the URL.
  }
  const syncFromUrl = () => {
    const q = params();
    status.value = q.get('status') || '';
    const cat = q.get('category') || '';
    if (cat && ![...category.options].some((o) => o.value === cat)) category.append(option(cat, cat));
    category.value = cat;
  };
  syncFromUrl();
  const heat = $('heat-mode');
  heat.append(option('', t('map.heat.none')), ...HEAT_MODES.map((m) => option(m, t(`map.heat.${m}`))));
  heat.value = params().get('heat') || '';
  heat.addEventListener('change', () => { setParams({ heat: heat.value }); reloadMap(); });
  status.addEventListener('change', () => { setParams({ status: status.value }); refresh(); });
  category.addEventListener('change', () => { setParams({ category: category.value }); refresh(); });
  window.addEventListener('popstate', () => {
    syncFromUrl();
    heat.value = params().get('heat') || '';
    refresh();
  });
}

// ---- list and drawer --------------------------------------------------------------------------

function age(iso) {
  const minutes = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 60000));
  if (minutes < 60) return t('age.minutes', { n: minutes });
  if (minutes < 48 * 60) return t('age.hours', { n: Math.round(minutes / 60) });
  return t('age.days', { n: Math.round(minutes / 1440) });
}

/** Opens the drawer for asset `id` (the map's click handler calls it). */
function select(id) {
  selectAsset(id);
}

// ---- loading ----------------------------------------------------------------------------------

/** An alert list's `total` (one item read); null if it cannot be read. */
async function alertTotal(path, filter) {
  try {
    const page = await api('GET', `${path}?${new URLSearchParams({ ...filter, limit: '1' })}`);
    return page.total;
  } catch (e) {
    if (e.status === 401) throw e;
    return null; // the header shows what it could count
  }
}

async function refresh() {
  const q = params();
  const status = $('status-line');
  if (!status.textContent) status.textContent = t('console.loading');
  let fleet;
  try {
    const staleFilter = {};
    if (q.get('category')) staleFilter.category = q.get('category');
    if (q.get('site_id')) staleFilter.site_id = q.get('site_id');
    // Only the totals: the lists themselves are pages in the left panel.
    const [counted, stale, offSite] = await Promise.all([
      fleetCounts(),
      alertTotal('/api/v1/alerts/stale', staleFilter),
      alertTotal('/api/v1/alerts/off-site', {}),
    ]);
    fleet = counted;
    state.counts = { stale, off_site: offSite };
  } catch (e) {
    if (e.status === 401) {
      location.reload(); // the session ended: the server answers with the login page
      return;
    }
    $('status-line').textContent = t('console.error.load', { message: e.message });
    return;
  }
  renderCounts(fleet);
  if (frameFleet) {
    frameFleet = false;
    if (fleet.bounds) fitView(fleet.bounds);
  }
  reloadList();
  await reloadMap();
  if (status.textContent === t('console.loading')) status.textContent = '';
  await showSelection();
}

async function setUpHeader() {
  // Without `me` the name is not shown; the data calls report the error.
  if (me) $('whoami').textContent = t('console.signed_in_as', { user: me.username, role: t(`role.${me.role}`) });
  const picker = $('lang-picker');
  picker.value = lang;
  picker.addEventListener('change', async () => {
    try {
      await api('PATCH', '/api/v1/auth/session', { locale: picker.value });
    } catch (e) {
      $('status-line').textContent = t('settings.language.failed', { message: e.message });
      picker.value = lang;
      return;
    }
    // The saved setting applies; a `lang=` in the URL would override it, so it goes.
    setParams({ lang: null }, { replace: true });
    location.reload();
  });
  $('logout').addEventListener('click', async () => {
    await api('DELETE', '/api/v1/auth/session').catch(() => null);
    location.assign('/');
  });
  initDrawer(context);
  await initLists(context);
}

// ---- live updates -------------------------------------------------------------------------------

const COUNTS_AFTER_LIVE_MS = 3000;
let countsTimer = null;

/** Counts again a while after live changes (a newly positioned asset), at most that often. */
function scheduleCounts() {
  if (countsTimer) return;
  countsTimer = setTimeout(async () => {
    countsTimer = null;
    try {
      renderCounts(await fleetCounts());
    } catch {
      // The next change or a resync counts again.
    }
  }, COUNTS_AFTER_LIVE_MS);
}

function startLive() {
  const indicator = $('live');
  const events = new EventSource('/api/v1/events');
  events.addEventListener('open', () => {
    document.body.dataset.live = 'open';
    indicator.textContent = t('console.live.on');
    indicator.classList.remove('bad');
  });
  events.addEventListener('error', () => {
    document.body.dataset.live = 'lost';
    indicator.textContent = t('console.live.lost');
    indicator.classList.add('bad');
  });
  // Events were missed (too slow, or the resume id is gone): load the current state again.
  events.addEventListener('resync', () => refresh());
  followLive(events);
  events.addEventListener('position', (e) => {
    livePosition(JSON.parse(e.data));
    scheduleCounts();
  });
}

// What the drawer, the lists and the map share of the page.
const context = { t, lang, params, setParams, state, age, select, refresh,
  statusColours: STATUS_COLOURS, staleColour: STALE_COLOUR };
// The rental office's view (`#office`), for the roles that may read customers.
await Promise.all([setUpHeader(), setUpFilters(), setUpMap(context), initOffice({ t, lang, me })]);
await refresh();
startLive();
document.body.dataset.ready = '1';
