// The map: the basemap, the fleet for the visible area and the heat layer, all aggregated on the
// server (DESIGN.md §6, "Fast at 100k": the page never downloads the whole fleet).
//
// - Assets: GET /api/v1/map/assets for the view's bbox and zoom, with the URL's filters. Up to
//   the server's limit it answers the assets themselves; above it, clusters (one per map cell,
//   with their count, statuses and stale count). Reloaded when the view stops moving.
// - Heat: GET /api/v1/map/heat (`heat=count|status|utilisation` in the URL), cells drawn as
//   squares under the assets.
// - Live: a position event moves a drawn asset in place; the source is redrawn at most every
//   LIVE_REDRAW_MS however many events arrive (1,000 readings/s must not cost 1,000 redraws).
//   An asset not drawn (new in the view) or a clustered view reloads, at most every
//   RELOAD_AFTER_LIVE_MS.
import * as maplibregl from '/static/vendor/maplibre-gl/dist/maplibre-gl.mjs';
import { record } from './errors.mjs';
import { api } from './api.mjs';

const LIVE_REDRAW_MS = 250;
const RELOAD_AFTER_LIVE_MS = 2000;
const MOVE_DEBOUNCE_MS = 150;
export const HEAT_MODES = ['count', 'status', 'utilisation'];
// The heat's status mode colours a cell by its largest group (the server's four groups).
const GROUP_COLOURS = { rented: '#0b5cad', available: '#1a7f37', in_maintenance: '#c77700', idle: '#8c959f' };

let ctx;
let map;
/** Asset features drawn, by id (points mode only). */
let drawn = new Map();
let lastResponse = null;
let inflight = null;
let heatInflight = null;
let redrawTimer = null;
let reloadTimer = null;
let firstDataMarked = false;

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

const EMPTY = { type: 'FeatureCollection', features: [] };

function addLayers() {
  map.addSource('heat', { type: 'geojson', data: EMPTY });
  map.addLayer({
    id: 'heat-cells',
    type: 'fill',
    source: 'heat',
    paint: {
      'fill-color': ['coalesce', ['get', 'colour'],
        ['interpolate', ['linear'], ['get', 'weight'], 0, '#fde68a', 0.5, '#f97316', 1, '#b91c1c']],
      'fill-opacity': 0.55,
      'fill-outline-color': '#ffffff',
    },
  });
  map.addSource('assets', { type: 'geojson', data: EMPTY });
  // Clusters are circles sized by their count, red-ringed when some of them are stale; the
  // count itself needs a glyph server, which the offline basemap does not have.
  map.addLayer({
    id: 'asset-clusters',
    type: 'circle',
    source: 'assets',
    filter: ['==', ['get', 'kind'], 'cluster'],
    paint: {
      'circle-color': '#0b5cad',
      'circle-opacity': 0.75,
      'circle-stroke-color': ['case', ['>', ['get', 'stale'], 0], ctx.staleColour, '#ffffff'],
      'circle-stroke-width': ['case', ['>', ['get', 'stale'], 0], 3, 2],
      'circle-radius': ['step', ['get', 'count'], 12, 10, 16, 100, 22, 1000, 28, 10000, 34],
    },
  });
  map.addLayer({
    id: 'asset-points',
    type: 'circle',
    source: 'assets',
    filter: ['==', ['get', 'kind'], 'asset'],
    paint: {
      'circle-color': ['case', ['get', 'stale'], ctx.staleColour,
        ['match', ['get', 'status'], ...Object.entries(ctx.statusColours).flat(), '#000000']],
      'circle-radius': ['case', ['get', 'stale'], 10, 8],
      'circle-stroke-color': ['case', ['get', 'stale'], '#7a0000', '#ffffff'],
      'circle-stroke-width': ['case', ['get', 'stale'], 3, 2],
    },
  });
  map.on('click', 'asset-points', (e) => {
    const id = e.features?.[0]?.properties?.id;
    if (id) ctx.select(id);
  });
  map.on('click', 'asset-clusters', (e) => {
    const f = e.features?.[0];
    if (f) map.easeTo({ center: f.geometry.coordinates, zoom: f.properties.expansion_zoom });
  });
  for (const layer of ['asset-points', 'asset-clusters']) {
    map.on('mouseenter', layer, () => { map.getCanvas().style.cursor = 'pointer'; });
    map.on('mouseleave', layer, () => { map.getCanvas().style.cursor = ''; });
  }
}

/** Creates the map; the returned promise settles once the style has loaded (or failed). */
export async function setUpMap(context) {
  ctx = context;
  const configured = document.querySelector('meta[name="fieldops:map-style"]')?.content || '';
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
    document.getElementById('map').textContent = ctx.t('console.map.unavailable');
    return;
  }
  map.addControl(new maplibregl.NavigationControl(), 'top-right');
  ctx.state.map = map;
  map.on('error', (e) => {
    console.error('map error', e.error || e);
    record(`map: ${e.error?.message || e}`);
    if (!map.loaded()) document.getElementById('status-line').textContent = ctx.t('console.map.style_failed');
  });
  let moveTimer = null;
  map.on('moveend', () => {
    clearTimeout(moveTimer);
    moveTimer = setTimeout(() => { reloadMap(); }, MOVE_DEBOUNCE_MS);
  });
  // The lists do not wait for the map: a style that fails to load leaves them working.
  map.once('load', () => {
    addLayers();
    document.body.dataset.map = 'ready';
    reloadMap();
  });
}

/** Moves the view to `bounds` ([[west, south], [east, north]]) at once, at most to zoom 12. */
export function fitView(bounds) {
  map?.fitBounds(bounds, { padding: 60, maxZoom: 12, duration: 0 });
}

/** The view as the routes' `bbox` (west,south,east,north; longitudes wrapped into ±180). */
function viewBbox() {
  const b = map.getBounds();
  const clampLat = (v) => Math.max(-85, Math.min(85, v));
  let west = b.getWest();
  let east = b.getEast();
  if (east - west >= 360) {
    west = -180;
    east = 180;
  } else {
    const wrap = (v) => ((((v + 180) % 360) + 360) % 360) - 180;
    west = wrap(west);
    east = wrap(east);
    if (east === -180) east = 180;
  }
  const r = (v) => v.toFixed(5);
  return [r(west), r(clampLat(b.getSouth())), r(east), r(clampLat(b.getNorth()))].join(',');
}

/** The URL's asset filters, as the map routes take them. */
export function mapFilters() {
  const q = ctx.params();
  const f = {};
  for (const k of ['status', 'category', 'site_id']) if (q.get(k)) f[k] = q.get(k);
  return f;
}

/** Loads the fleet (and the heat) for the current view and filters. */
export async function reloadMap() {
  if (!map || !map.getSource('assets')) return;
  clearTimeout(reloadTimer);
  reloadTimer = null;
  const query = new URLSearchParams({ bbox: viewBbox(), zoom: String(Math.floor(map.getZoom())), ...mapFilters() });
  inflight?.abort();
  const mine = new AbortController();
  inflight = mine;
  reloadHeat();
  let fc;
  try {
    fc = await api('GET', `/api/v1/map/assets?${query}`, undefined, { signal: mine.signal });
  } catch (e) {
    if (mine.signal.aborted) return;
    if (e.status === 401) location.reload();
    record(`map assets: ${e.message}`);
    return;
  }
  if (mine.signal.aborted) return;
  lastResponse = fc;
  drawn = new Map();
  for (const f of fc.features) if (f.properties.kind === 'asset') drawn.set(f.properties.id, f);
  // The drawer's stale flag, for what is drawn.
  for (const f of drawn.values()) {
    if (f.properties.stale) ctx.state.stale.add(f.properties.id);
    else ctx.state.stale.delete(f.properties.id);
  }
  map.getSource('assets').setData(fc);
  document.body.dataset.assetsLoaded = String(fc.total);
  document.body.dataset.mapClustered = String(fc.clustered);
  if (!firstDataMarked) {
    firstDataMarked = true;
    // Read by `fieldops-sim bench-map`: navigation start → the fleet's first data on the map.
    performance.mark('fieldops:map-data');
  }
}

/** The heat layer for the view, or none (`heat` absent from the URL). */
async function reloadHeat() {
  const source = map?.getSource('heat');
  if (!source) return;
  const mode = ctx.params().get('heat');
  heatInflight?.abort();
  if (!HEAT_MODES.includes(mode)) {
    source.setData(EMPTY);
    delete document.body.dataset.heatCells;
    return;
  }
  const mine = new AbortController();
  heatInflight = mine;
  const query = new URLSearchParams({ bbox: viewBbox(), zoom: String(Math.floor(map.getZoom())), metric: mode });
  let heat;
  try {
    heat = await api('GET', `/api/v1/map/heat?${query}`, undefined, { signal: mine.signal });
  } catch (e) {
    if (mine.signal.aborted) return;
    record(`map heat: ${e.message}`);
    return;
  }
  if (mine.signal.aborted) return;
  const value = (p) => (mode === 'utilisation' ? (p.engine_hours || 0) : p.count);
  const max = Math.max(1, ...heat.features.map((f) => value(f.properties)));
  for (const f of heat.features) {
    const p = f.properties;
    p.weight = value(p) / max;
    if (mode === 'status' && p.by_status) {
      const [group] = Object.entries(p.by_status).sort((a, b) => b[1] - a[1])[0] || [];
      p.colour = GROUP_COLOURS[group] || null;
    }
  }
  source.setData(heat);
  document.body.dataset.heatCells = String(heat.features.length);
}

/** A live position: moves a drawn asset; anything else reloads the view soon. */
export function livePosition(change) {
  if (!map || !lastResponse) return;
  const f = drawn.get(change.asset_id);
  if (f && !lastResponse.clustered) {
    f.geometry.coordinates = [change.lon, change.lat];
    f.properties.pos_at = change.at;
    if (!redrawTimer) {
      redrawTimer = setTimeout(() => {
        redrawTimer = null;
        map.getSource('assets')?.setData(lastResponse);
      }, LIVE_REDRAW_MS);
    }
    return;
  }
  const inView = map.getBounds().contains([change.lon, change.lat]);
  if ((inView || f) && !reloadTimer) reloadTimer = setTimeout(() => { reloadMap(); }, RELOAD_AFTER_LIVE_MS);
}
