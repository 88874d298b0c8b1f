// The dispatcher console: fleet counts, the map of assets with positions (coloured by status,
// clustered when zoomed out), filters, and a drawer for the selected asset.
//
// Live: positions arrive over Server-Sent Events (GET /api/v1/events, the session cookie
// authenticates it) and move the markers in place; the browser reconnects by itself with
// `Last-Event-ID`, a `resync` reloads, a lost connection shows in the header.
//
// State lives in the URL (DESIGN.md §6): `status`, `category`, `site_id`, `q` (the search),
// `list` (the left panel's list), `asset` (the selection), `day` (its track) and `lang` in the
// query string, the map view in the hash (`#map=zoom/lat/lon`), so a link shows a
// colleague the same thing and back/forward work.
//
// Test hooks (read by api/tests/console_browser.rs): `body[data-assets-loaded]` (assets in the
// map's source), `body[data-map]` (`ready` or `failed`), `body[data-errors]` (errors.mjs),
// `window.fieldopsConsole.map`.
//
// The drawer is web/js/drawer.mjs, the lists and the search web/js/lists.mjs.
import { record } from './errors.mjs';
import * as maplibregl from '/static/vendor/maplibre-gl/dist/maplibre-gl.mjs';
import './basemap.mjs'; // the pmtiles:// protocol, before the map exists
import { loadCatalogue, translate } from './i18n.mjs';
import { api, listAll } from './api.mjs';
import { initDrawer, select as selectAsset, showSelection } from './drawer.mjs';
import { initLists, reload as reloadList, followLive } from './lists.mjs';

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
const state = { assets: [], byId: new Map(), stale: new Set(), counts: {}, map: null };
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

function renderCounts(assets) {
  const counts = $('counts');
  counts.replaceChildren();
  const add = (key, n, status) => {
    const li = document.createElement('li');
    li.dataset.count = status || key;
    if (status) li.style.setProperty('--dot', STATUS_COLOURS[status]);
    li.textContent = t(key, { n });
    counts.append(li);
  };
  add('console.count.total', assets.length);
  add('console.count.positioned', assets.filter((a) => a.position).length);
  // Counted on the server (`total`), not from the list above.
  for (const key of ['stale', 'off_site']) {
    if (state.counts[key] != null) {
      add(`console.count.${key}`, state.counts[key]);
      counts.lastChild.dataset.count = key;
      if (key === 'stale') counts.lastChild.style.setProperty('--dot', STALE_COLOUR);
    }
  }
  for (const s of STATUSES) {
    const n = assets.filter((a) => a.status === s).length;
    if (n) add(`status.${s}.count`, n, s);
  }
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
  status.addEventListener('change', () => { setParams({ status: status.value }); refresh(); });
  category.addEventListener('change', () => { setParams({ category: category.value }); refresh(); });
  window.addEventListener('popstate', () => { syncFromUrl(); refresh(); });
}

// ---- map --------------------------------------------------------------------------------------

/** The built-in basemap: Natural Earth land and countries (vendored), no network needed. */
async function offlineStyle() {
  const topo = await (await fetch('/static/vendor/world-atlas/countries-110m.json')).json();
  const countries = window.topojson.feature(topo, topo.objects.countries);
  const borders = window.topojson.mesh(topo, topo.objects.countries, (a, b) => a !== b);
  return {
    version: 8,
    sources: {
      countries: { type: 'geojson', data: countries },
      borders: { type: 'geojson', data: borders },
    },
    layers: [
      { id: 'sea', type: 'background', paint: { 'background-color': '#d6e6f2' } },
      { id: 'land', type: 'fill', source: 'countries', paint: { 'fill-color': '#f4f1ea' } },
      { id: 'coast', type: 'line', source: 'countries', paint: { 'line-color': '#8aa1b4', 'line-width': 0.8 } },
      { id: 'borders', type: 'line', source: 'borders', paint: { 'line-color': '#b9b2a3', 'line-width': 0.6 } },
    ],
  };
}

function featureCollection(assets) {
  return {
    type: 'FeatureCollection',
    features: assets
      .filter((a) => a.position)
      .map((a) => ({
        type: 'Feature',
        geometry: { type: 'Point', coordinates: [a.position.lon, a.position.lat] },
        properties: { id: a.id, code: a.code, name: a.name, status: a.status, stale: state.stale.has(a.id) },
      })),
  };
}

function addAssetLayers(map) {
  map.addSource('assets', {
    type: 'geojson',
    data: featureCollection(state.assets),
    cluster: true,
    clusterRadius: 40,
    clusterMaxZoom: 12,
  });
  // Clusters are circles sized by their count; the count itself needs a glyph server, which the
  // offline basemap does not have, so it is in the header instead.
  map.addLayer({
    id: 'asset-clusters',
    type: 'circle',
    source: 'assets',
    filter: ['has', 'point_count'],
    paint: {
      'circle-color': '#0b5cad',
      'circle-opacity': 0.75,
      'circle-stroke-color': '#ffffff',
      'circle-stroke-width': 2,
      'circle-radius': ['step', ['get', 'point_count'], 14, 10, 20, 100, 28, 1000, 36],
    },
  });
  map.addLayer({
    id: 'asset-points',
    type: 'circle',
    source: 'assets',
    filter: ['!', ['has', 'point_count']],
    paint: {
      'circle-color': ['case', ['get', 'stale'], STALE_COLOUR,
        ['match', ['get', 'status'], ...Object.entries(STATUS_COLOURS).flat(), '#000000']],
      'circle-radius': ['case', ['get', 'stale'], 10, 8],
      'circle-stroke-color': ['case', ['get', 'stale'], '#7a0000', '#ffffff'],
      'circle-stroke-width': ['case', ['get', 'stale'], 3, 2],
    },
  });
  map.on('click', 'asset-points', (e) => {
    const id = e.features?.[0]?.properties?.id;
    if (id) select(id);
  });
  map.on('click', 'asset-clusters', async (e) => {
    const feature = e.features?.[0];
    if (!feature) return;
    const zoom = await map.getSource('assets').getClusterExpansionZoom(feature.properties.cluster_id);
    map.easeTo({ center: feature.geometry.coordinates, zoom });
  });
  for (const layer of ['asset-points', 'asset-clusters']) {
    map.on('mouseenter', layer, () => { map.getCanvas().style.cursor = 'pointer'; });
    map.on('mouseleave', layer, () => { map.getCanvas().style.cursor = ''; });
  }
}

async function setUpMap() {
  const configured = document.querySelector('meta[name="fieldops:map-style"]')?.content || '';
  let map;
  try {
    const style = configured || (await offlineStyle());
    map = new maplibregl.Map({
      container: 'map',
      style,
      center: [105, 35],
      zoom: 2,
      hash: 'map',
      attributionControl: { compact: true },
    });
  } catch (e) {
    // No WebGL (or a broken style): the lists and the drawer still work.
    console.error('map unavailable', e);
    record(`map unavailable: ${e.message}`);
    document.body.dataset.map = 'failed';
    $('map').textContent = t('console.map.unavailable');
    return;
  }
  map.addControl(new maplibregl.NavigationControl(), 'top-right');
  state.map = map;
  map.on('error', (e) => {
    console.error('map error', e.error || e);
    record(`map: ${e.error?.message || e}`);
    if (!map.loaded()) $('status-line').textContent = t('console.map.style_failed');
  });
  // The lists do not wait for the map: a style that fails to load leaves them working.
  map.once('load', () => {
    addAssetLayers(map);
    document.body.dataset.map = 'ready';
  });
}

function showAssetsOnMap() {
  // Before the map has loaded there is no source yet; addAssetLayers then takes state.assets.
  const source = state.map?.getSource('assets');
  if (source) source.setData(featureCollection(state.assets));
  document.body.dataset.assetsLoaded = String(state.assets.filter((a) => a.position).length);
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

/** An alert list (its `total` and up to 10 pages of items); null if it cannot be read. */
async function alertList(path, params) {
  try {
    const first = await api('GET', `${path}?${new URLSearchParams({ ...params, limit: '500' })}`);
    const items = [...first.items];
    let cursor = first.next_cursor;
    for (let page = 1; cursor && page < 10; page += 1) {
      const next = await api('GET', `${path}?${new URLSearchParams({ ...params, limit: '500', cursor })}`);
      items.push(...next.items);
      cursor = next.next_cursor;
    }
    return { total: first.total, items };
  } catch (e) {
    if (e.status === 401) throw e;
    return null; // the header shows what it could count
  }
}

async function refresh() {
  const q = params();
  const filter = {};
  if (q.get('status')) filter.status = q.get('status');
  if (q.get('category')) filter.category = q.get('category');
  if (q.get('site_id')) filter.site_id = q.get('site_id');
  const status = $('status-line');
  if (!status.textContent) status.textContent = t('console.loading');
  try {
    const staleFilter = {};
    if (filter.category) staleFilter.category = filter.category;
    if (filter.site_id) staleFilter.site_id = filter.site_id;
    const [assets, stale, offSite] = await Promise.all([
      listAll('/api/v1/assets', filter),
      alertList('/api/v1/alerts/stale', staleFilter),
      alertList('/api/v1/alerts/off-site', {}),
    ]);
    state.assets = assets;
    state.byId = new Map(assets.map((a) => [a.id, a]));
    state.stale = new Set((stale?.items || []).map((s) => s.asset_id));
    state.counts = { stale: stale?.total, off_site: offSite?.total };
  } catch (e) {
    if (e.status === 401) {
      location.reload(); // the session ended: the server answers with the login page
      return;
    }
    $('status-line').textContent = t('console.error.load', { message: e.message });
    return;
  }
  renderCounts(state.assets);
  reloadList();
  showAssetsOnMap();
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
  const context = { t, lang, params, setParams, state, age, select, refresh,
    statusColours: STATUS_COLOURS, staleColour: STALE_COLOUR };
  initDrawer(context);
  await initLists(context);
}

// ---- live updates -------------------------------------------------------------------------------

let renderQueued = false;

/** Redraws the map and counts once per animation frame, however many events arrived. */
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    showAssetsOnMap();
    renderCounts(state.assets);
  });
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
    const change = JSON.parse(e.data);
    const asset = state.byId.get(change.asset_id);
    if (!asset) return; // not in the filtered list
    asset.position = { ...(asset.position || {}), lat: change.lat, lon: change.lon, at: change.at };
    scheduleRender();
  });
}

await Promise.all([setUpHeader(), setUpFilters(), setUpMap()]);
await refresh();
startLive();
document.body.dataset.ready = '1';
