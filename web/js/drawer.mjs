// The asset drawer (right panel) for the selection in the URL (`asset=`): what a dispatcher
// asks about one machine — status, site, category, engine hours, last position with its age,
// the tracker online/offline, next service, open work orders, the last field scans with their
// photos — and its track for a chosen day (`day=YYYY-MM-DD` in the URL, in the browser's time
// zone) drawn on the map through `showTrack`, which needs nothing of the map code but the map
// object itself.
//
// Each section is its own API call and fails on its own ("not available"): a role or a route
// that refuses one part leaves the rest of the drawer useful.
//
// Test hooks (api/tests/console_browser.rs): `#drawer[data-asset-id]`, `dd[data-field=…]`,
// `#drawer[data-loaded]` (the asset id once every section has answered), `[data-section=…]`.
import { api } from './api.mjs';

let ctx = null;
/** Increases with each selection: answers for an older one are dropped. */
let generation = 0;

const $ = (id) => document.getElementById(id);

/** `ctx`: `{ t, lang, params, setParams, state, age }` from console.mjs. */
export function initDrawer(context) {
  ctx = context;
  $('drawer-close').addEventListener('click', () => {
    ctx.setParams({ asset: null, day: null });
    showSelection();
  });
}

/** Selects asset `id`: into the URL (a history entry), then the drawer. */
export function select(id) {
  ctx.setParams({ asset: id });
  showSelection();
}

/** Today in the browser's time zone, `YYYY-MM-DD`. */
function today() {
  const d = new Date();
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** Start and end (exclusive) of local day `day` as RFC 3339 instants. */
function dayRange(day) {
  const [y, m, d] = day.split('-').map(Number);
  const from = new Date(y, m - 1, d);
  const to = new Date(y, m - 1, d + 1); // local midnight, so a DST day is 23 or 25 hours
  return { from: from.toISOString(), to: to.toISOString() };
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k === 'class') e.className = v;
    else e[k] = v;
  }
  e.append(...children.filter((c) => c != null));
  return e;
}

function row(body, key, value, field = key) {
  body.append(el('dt', {}, ctx.t(key)), el('dd', { dataset: { field } }, value || '—'));
}

/** A drawer section: a heading and a body that a later answer fills. */
function section(name, titleKey) {
  const body = el('div', { class: 'section-body' }, ctx.t('console.loading'));
  const s = el('section', { class: 'drawer-section', dataset: { section: name } },
    el('h3', {}, ctx.t(titleKey)), body);
  $('drawer-sections').append(s);
  return body;
}

function localDate(iso) {
  return new Date(iso).toLocaleString(ctx.lang, { dateStyle: 'medium', timeStyle: 'short' });
}

function forecastText(f) {
  const { t } = ctx;
  const when = f.forecast_date
    ? new Date(`${f.forecast_date}T00:00`).toLocaleDateString(ctx.lang, { dateStyle: 'medium' })
    : t('drawer.next_service.unknown_date');
  return t('drawer.next_service.value', { service: f.service, when, urgency: t(`drawer.urgency.${f.urgency}`) });
}

export { forecastText };

async function fillService(body, id, mine) {
  const m = await api('GET', `/api/v1/assets/${id}/maintenance`);
  if (!mine()) return;
  body.replaceChildren(m.next_service
    ? el('p', { class: `urgency-${m.next_service.urgency}`, dataset: { urgency: m.next_service.urgency } },
      forecastText(m.next_service))
    : el('p', { class: 'muted' }, ctx.t('drawer.next_service.none')));
}

async function fillWorkOrders(body, id, mine) {
  // The list filters by asset on the server; open ones are the states not finished.
  const page = await api('GET', `/api/v1/work-orders?${new URLSearchParams({ asset_id: id, limit: '50' })}`);
  if (!mine()) return;
  const open = page.items.filter((w) => !['done', 'cancelled'].includes(w.state));
  body.replaceChildren(open.length
    ? el('ul', { class: 'plain' }, ...open.map((w) => el('li', { dataset: { workOrderId: w.id } },
      `${w.title} · ${ctx.t(`drawer.work_order.state.${w.state}`)}${w.due_at ? ` · ${w.due_at}` : ''}`)))
    : el('p', { class: 'muted' }, ctx.t('drawer.work_orders.none')));
}

async function fillScans(body, id, mine) {
  const history = await api('GET', `/api/v1/assets/${id}/field-history?limit=5`);
  if (!mine()) return;
  const { t } = ctx;
  body.replaceChildren(history.length
    ? el('ul', { class: 'plain scans' }, ...history.map((h) => {
      const action = t(`drawer.scan.action.${h.command.action}`);
      const line = t('drawer.scan.line', { action, actor: h.actor, age: ctx.age(h.server_time) });
      const photos = (h.command.photos || []).map((sha) => el('a', { href: `/api/v1/photos/${sha}`, target: '_blank', rel: 'noopener' },
        // Content-addressed and cached immutable: a thumbnail costs one request per photo, ever.
        el('img', { src: `/api/v1/photos/${sha}`, alt: t('drawer.scan.photo'), loading: 'lazy', class: 'thumb' })));
      return el('li', { title: localDate(h.server_time) },
        el('span', {}, line),
        h.status === 'rejected' ? el('span', { class: 'error' }, ` · ${t('drawer.scan.rejected')}`) : null,
        photos.length ? el('div', { class: 'thumbs' }, ...photos) : null);
    }))
    : el('p', { class: 'muted' }, t('drawer.scans.none')));
}

async function fillTrack(body, id, mine) {
  const day = ctx.params().get('day') || today();
  const input = el('input', { type: 'date', id: 'track-day', value: day, max: today() });
  input.addEventListener('change', () => {
    if (!input.value) return;
    ctx.setParams({ day: input.value }, { replace: true });
    showSelection();
  });
  const label = el('label', { htmlFor: 'track-day' }, ctx.t('drawer.track.day'));
  const summary = el('p', { class: 'muted', id: 'track-summary' }, ctx.t('console.loading'));
  body.replaceChildren(label, input, summary);
  const { from, to } = dayRange(day);
  const points = await api('GET', `/api/v1/assets/${id}/positions?${new URLSearchParams({ from, to })}`);
  if (!mine()) return;
  const coords = points.map((p) => [p.lon, p.lat]);
  summary.textContent = coords.length ? ctx.t('drawer.track.points', { n: coords.length }) : ctx.t('drawer.track.none');
  summary.dataset.points = String(coords.length);
  showTrack(ctx.state.map, coords);
}

/**
 * Draws `coords` ([lon, lat] pairs, oldest first) as the `track` line on `map`, replacing the
 * previous one; an empty list removes it. Only public MapLibre calls, so whatever draws the
 * assets (web/js/map.mjs) is left alone; the line goes on top of the layers there are.
 */
export function showTrack(map, coords, retries = 5) {
  if (!map) return;
  const apply = () => {
    if (!coords.length) {
      if (map.getLayer('track')) map.removeLayer('track');
      if (map.getSource('track')) map.removeSource('track');
      return;
    }
    const data = { type: 'Feature', properties: {}, geometry: { type: 'LineString', coordinates: coords } };
    const source = map.getSource('track');
    if (source) source.setData(data);
    else map.addSource('track', { type: 'geojson', data });
    if (!map.getLayer('track')) {
      map.addLayer({
        id: 'track',
        type: 'line',
        source: 'track',
        layout: { 'line-join': 'round', 'line-cap': 'round' },
        paint: { 'line-color': '#111827', 'line-width': 3, 'line-opacity': 0.85 },
      });
    }
  };
  // Before the style has loaded, sources cannot be added ("Style is not done loading"): try
  // again when the map is next idle. (`isStyleLoaded()` is also false while a source reloads,
  // e.g. during live updates, when adding already works.)
  try {
    apply();
  } catch (e) {
    if (retries > 0) map.once('idle', () => showTrack(map, coords, retries - 1));
    else console.error('track not drawn', e);
  }
}

function fail(body, mine) {
  return (e) => {
    if (e.status === 401) location.reload();
    if (mine()) body.replaceChildren(el('p', { class: 'muted' }, ctx.t('drawer.unavailable')));
  };
}

/** Shows the drawer for the selection in the URL, or hides it (and the track). */
export async function showSelection() {
  const { t, params, state } = ctx;
  const id = params().get('asset');
  const drawer = $('drawer');
  const mine = ((g) => () => g === generation)(++generation);
  if (!id) {
    drawer.hidden = true;
    delete drawer.dataset.assetId;
    showTrack(state.map, []);
    return;
  }
  let asset;
  try {
    asset = await api('GET', `/api/v1/assets/${encodeURIComponent(id)}`);
  } catch (e) {
    if (!mine()) return;
    $('status-line').textContent = t('console.error.load', { message: e.message });
    drawer.hidden = true;
    return;
  }
  if (!mine()) return;
  delete drawer.dataset.loaded;
  $('drawer-title').textContent = `${asset.code} · ${asset.name}`;
  const body = $('drawer-body');
  body.replaceChildren();
  row(body, 'asset.status', t(`status.${asset.status}`));
  if (state.stale.has(asset.id)) row(body, 'asset.stale', t('asset.stale.yes'));
  row(body, 'drawer.site', asset.site_id ? (state.siteNames?.get(asset.site_id) || '…') : null);
  if (asset.site_id && !state.siteNames?.has(asset.site_id)) {
    const dd = body.lastChild;
    api('GET', `/api/v1/sites/${asset.site_id}`)
      .then((site) => { if (mine()) dd.textContent = site.name; })
      .catch(() => { if (mine()) dd.textContent = '—'; });
  }
  row(body, 'asset.category', asset.category);
  row(body, 'asset.make_model', [asset.make, asset.model].filter(Boolean).join(' '));
  row(body, 'asset.serial', asset.serial);
  row(body, 'asset.engine_hours', asset.engine_hours == null ? null : asset.engine_hours.toLocaleString(ctx.lang));
  row(body, 'asset.position', asset.position
    ? `${asset.position.lat.toFixed(5)}, ${asset.position.lon.toFixed(5)} (${ctx.age(asset.position.at)})`
    : t('asset.no_position'));
  const tr = asset.tracker;
  row(body, 'drawer.tracker', tr
    ? t(tr.online ? 'drawer.tracker.online' : 'drawer.tracker.offline', {
      device: tr.device_id,
      age: tr.last_seen_at ? ctx.age(tr.last_seen_at) : t('drawer.tracker.never'),
    })
    : t('drawer.tracker.none'));
  if (tr) body.lastChild.classList.add(tr.online ? 'ok' : 'error');

  $('drawer-sections').replaceChildren();
  const parts = [
    ['service', 'drawer.next_service', fillService],
    ['work-orders', 'drawer.work_orders', fillWorkOrders],
    ['scans', 'drawer.scans', fillScans],
    ['track', 'drawer.track', fillTrack],
  ].map(([name, key, fill]) => {
    const b = section(name, key);
    return fill(b, asset.id, mine).catch(fail(b, mine));
  });
  drawer.dataset.assetId = asset.id;
  drawer.hidden = false;
  if (asset.position && state.map) state.map.easeTo({ center: [asset.position.lon, asset.position.lat] });
  await Promise.all(parts);
  if (mine()) drawer.dataset.loaded = asset.id;
}
