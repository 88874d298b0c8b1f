// The left panel's lists and the header's search box. Each list is one API route read a page
// at a time (never the whole fleet), in the URL as `list=` so a link opens it:
//   assets       GET /api/v1/assets?q=&status=&category=&site_id=   (the search)
//   stale        GET /api/v1/alerts/stale        oldest position first, reasons shown, red
//   off_site     GET /api/v1/alerts/off-site
//   service_due  GET /api/v1/alerts/service-due  most urgent first
//   sites        GET /api/v1/map/sites           status share per site; a row filters `site_id=`
// Every row selects its asset (the drawer). The header's stale / off-site / due-for-service
// counts open their list. Live: a `resync` reloads (console.mjs's refresh calls `reload`);
// position and device events reload the open alert list, at most every few seconds.
//
// Keyboard: `/` focuses the search, `1`-`5` open the lists, `Esc` closes the drawer.
// The search takes a code, a name, a serial or a scanned label URL (`…/a/<CODE>` → the code).
//
// Test hooks: `#list-panel[data-list]`, `[data-loaded]` once a list answered, rows are
// `button[data-asset-id]` (or `tr[data-site-id]`).
import { api } from './api.mjs';

export const LISTS = ['assets', 'stale', 'off_site', 'service_due', 'sites'];
const PAGE = 50;
/** Seconds between live reloads of an open alert list. */
const LIVE_RELOAD_MS = 3000;

let ctx = null;
let cursor = null;
let generation = 0;
const $ = (id) => document.getElementById(id);

/** An element with properties (`class`, `dataset`, anything else as a property) and children. */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'dataset') Object.assign(e.dataset, v);
    else if (k === 'class') e.className = v;
    else e[k] = v;
  }
  e.append(...children.filter((c) => c != null));
  return e;
}

/** A picker's `<option>`. */
export function option(value, label) {
  return el('option', { value, textContent: label });
}

function currentList() {
  const l = ctx.params().get('list');
  return LISTS.includes(l) ? l : 'assets';
}

/** A scanned label's URL (`https://…/a/EX-0042`) is its code; anything else is the text. */
export function searchText(raw) {
  const text = raw.trim();
  const m = text.match(/\/a\/([^/?#\s]+)\/?(?:[?#].*)?$/);
  if (m) {
    try {
      return decodeURIComponent(m[1]);
    } catch {
      return m[1];
    }
  }
  return text;
}

/** `ctx`: `{ t, lang, params, setParams, state, age, select, refresh, statusColours, staleColour }`. */
export async function initLists(context) {
  ctx = context;
  const { t } = ctx;
  const tabs = $('list-tabs');
  tabs.replaceChildren(...LISTS.map((name, i) => el('button', {
    type: 'button', role: 'tab', id: `tab-${name}`, title: `${t(`list.${name}`)} (${i + 1})`,
    dataset: { list: name }, textContent: t(`list.${name}`),
  })));
  tabs.addEventListener('click', (e) => {
    const name = e.target.closest('button[data-list]')?.dataset.list;
    if (name) openList(name);
  });

  // The site filter, like status and category (console.mjs): in the URL as `site_id=`.
  const site = $('filter-site');
  site.append(option('', t('console.filter.any')));
  ctx.state.siteNames = new Map();
  try {
    const page = await api('GET', '/api/v1/sites?limit=500');
    for (const s of page.items) ctx.state.siteNames.set(s.id, s.name);
    site.append(...page.items.map((s) => option(s.id, s.name)));
  } catch {
    // A role that may not list sites still filters by the one in the URL.
  }
  const syncSite = () => {
    const id = ctx.params().get('site_id') || '';
    if (id && ![...site.options].some((o) => o.value === id)) site.append(option(id, id));
    site.value = id;
  };
  syncSite();
  site.addEventListener('change', () => { ctx.setParams({ site_id: site.value }); ctx.refresh(); });

  // The search box: the URL's `q` (replaced, not a history entry per keystroke).
  const search = $('search');
  search.value = ctx.params().get('q') || '';
  let typing = null;
  search.addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      ctx.setParams({ q: searchText(search.value), list: null }, { replace: true });
      search.value = searchText(search.value);
      reload();
    }, 250);
  });
  search.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter') return;
    clearTimeout(typing);
    ctx.setParams({ q: searchText(search.value), list: null }, { replace: true });
    search.value = searchText(search.value);
    // Enter on a single match opens it: a scanned label goes straight to its machine.
    reload().then((items) => { if (items?.length === 1) ctx.select(items[0].id); });
  });
  window.addEventListener('popstate', () => { syncSite(); search.value = ctx.params().get('q') || ''; });

  linkHeaderCounts();
  setUpShortcuts();
}

function openList(name) {
  ctx.setParams({ list: name === 'assets' ? null : name });
  reload();
}

/** The due-for-service total (GET /api/v1/alerts/service-due); null if unreadable. */
let serviceDue = null;

/** Marks the header's alert counts as links to their list and adds the due-for-service one. */
function decorateCounts() {
  const counts = $('counts');
  if (serviceDue != null && !counts.querySelector('li[data-count=service_due]')) {
    counts.append(el('li', { dataset: { count: 'service_due' } },
      ctx.t('list.count.service_due', { n: serviceDue })));
  }
  for (const li of counts.querySelectorAll('li[data-count]')) {
    if (li.dataset.list) continue;
    const c = li.dataset.count;
    // A status count opens the asset list filtered by that status; the totals, the list.
    if (ctx.statusColours[c]) li.dataset.status = c;
    else if (!LISTS.includes(c) && c !== 'console.count.total' && c !== 'console.count.positioned') continue;
    li.dataset.list = LISTS.includes(c) ? c : 'assets';
    li.tabIndex = 0;
    li.setAttribute('role', 'link');
    li.title = ctx.t('list.open');
  }
}

/** The header's alert counts open their list (console.mjs renders them, on every change). */
function linkHeaderCounts() {
  const counts = $('counts');
  new MutationObserver(decorateCounts).observe(counts, { childList: true });
  decorateCounts();
  const open = (e) => {
    const li = e.target.closest('li[data-list]');
    if (!li) return;
    if (li.dataset.status) {
      ctx.setParams({ status: li.dataset.status, list: null });
      $('filter-status').value = li.dataset.status;
      ctx.refresh(); // the map, the counts and the list, with the status filter (console.mjs)
      return;
    }
    openList(li.dataset.list);
  };
  counts.addEventListener('click', open);
  counts.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') open(e); });
}

async function countServiceDue() {
  try {
    serviceDue = (await api('GET', '/api/v1/alerts/service-due?limit=1')).total;
  } catch {
    serviceDue = null; // a role without maintenance reads sees no such count
  }
  $('counts').querySelector('li[data-count=service_due]')?.remove();
  decorateCounts();
}

function setUpShortcuts() {
  document.addEventListener('keydown', (e) => {
    const typing = e.target.closest?.('input, select, textarea');
    if (e.key === 'Escape') {
      if (typing) e.target.blur();
      else if (ctx.params().get('asset')) $('drawer-close').click();
      return;
    }
    if (typing || e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === '/') {
      e.preventDefault();
      $('search').focus();
      $('search').select();
    } else if (/^[1-5]$/.test(e.key)) {
      openList(LISTS[Number(e.key) - 1]);
    }
  });
}

function assetButton(a, ...detail) {
  const b = el('button', { type: 'button', class: 'row', dataset: { assetId: a.asset_id || a.id } },
    el('span', { class: 'row-title' }, `${a.code} · ${a.name}`),
    ...detail.filter(Boolean).map((d) => el('span', { class: 'row-detail' }, d)));
  b.style.setProperty('--dot', ctx.statusColours[a.status]);
  b.addEventListener('click', () => ctx.select(a.asset_id || a.id));
  return el('li', {}, b);
}

/** One page of `path` with `query`, into the list; `more` appends the next page. */
async function loadPage(path, query, render, { more = false } = {}) {
  const q = new URLSearchParams({ ...query, limit: String(PAGE) });
  if (more && cursor) q.set('cursor', cursor);
  const page = await api('GET', `${path}?${q}`);
  cursor = page.next_cursor || null;
  return { items: page.items, total: page.total, rows: page.items.map(render) };
}

const renderers = {
  assets: () => {
    const q = ctx.params();
    const query = {};
    for (const k of ['q', 'status', 'category', 'site_id']) if (q.get(k)) query[k] = q.get(k);
    return ['/api/v1/assets', query, (a) => assetButton(a, ctx.t(`status.${a.status}`))];
  },
  stale: () => {
    const q = ctx.params();
    const query = {};
    for (const k of ['category', 'site_id']) if (q.get(k)) query[k] = q.get(k);
    return ['/api/v1/alerts/stale', query, (a) => {
      const li = assetButton(a,
        a.last_position ? ctx.t('list.age', { age: ctx.age(a.last_position.at) }) : ctx.t('list.never'),
        a.reasons.map((r) => ctx.t(`list.reason.${r}`)).join(' · '));
      li.firstChild.classList.add('stale');
      li.firstChild.style.setProperty('--dot', ctx.staleColour);
      return li;
    }];
  },
  off_site: () => ['/api/v1/alerts/off-site', {}, (a) => assetButton(a,
    a.left_site && a.left_at
      ? ctx.t('list.off_site.left', { site: a.left_site.name, age: ctx.age(a.left_at) })
      : ctx.t('list.off_site.outside', { age: ctx.age(a.position.at) }))],
  service_due: () => ['/api/v1/alerts/service-due', {}, (a) => {
    const f = a.next_service;
    const when = f.forecast_date
      ? new Date(`${f.forecast_date}T00:00`).toLocaleDateString(ctx.lang, { dateStyle: 'medium' })
      : ctx.t('drawer.next_service.unknown_date');
    const li = assetButton(a, ctx.t('list.service_due.line', {
      service: f.service, when, urgency: ctx.t(`drawer.urgency.${f.urgency}`),
    }));
    li.firstChild.classList.add(`urgency-${f.urgency}`);
    return li;
  }],
};

/** The per-site table: counts by status as a bar, the stale count; a row filters the site. */
async function loadSites(body) {
  const { t } = ctx;
  const table = await api('GET', '/api/v1/map/sites');
  const current = ctx.params().get('site_id');
  const rows = table.sites.map((s) => {
    const bar = el('div', { class: 'share', title: s.by_status.filter((c) => c.count).map((c) => `${t(`status.${c.status}`)}: ${c.count}`).join(', ') },
      ...s.by_status.filter((c) => c.count).map((c) => {
        const part = el('span', { dataset: { status: c.status } });
        part.style.flexGrow = String(c.count);
        part.style.background = ctx.statusColours[c.status];
        return part;
      }));
    const tr = el('tr', { dataset: { siteId: s.site_id }, tabIndex: 0, title: t('list.sites.filter'), class: s.site_id === current ? 'current' : '' },
      el('td', {}, s.name), el('td', { class: 'num' }, String(s.total)),
      el('td', { class: s.stale ? 'num error' : 'num' }, String(s.stale)), el('td', {}, bar));
    const pick = () => {
      ctx.setParams({ site_id: s.site_id, list: null });
      $('filter-site').value = s.site_id;
      ctx.refresh();
    };
    tr.addEventListener('click', pick);
    tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') pick(); });
    return tr;
  });
  const head = el('tr', {}, ...['list.sites.site', 'list.sites.total', 'list.sites.stale', 'list.sites.share']
    .map((k) => el('th', {}, t(k))));
  body.replaceChildren(
    el('table', { class: 'sites' }, el('thead', {}, head), el('tbody', {}, ...rows)),
    current ? el('button', { type: 'button', textContent: t('list.sites.clear'), onclick: () => { ctx.setParams({ site_id: null }); $('filter-site').value = ''; ctx.refresh(); } }) : null,
  );
  return table.sites;
}

/** Loads the open list's first page; returns its items (null if superseded or failed). */
export async function reload() {
  countServiceDue();
  const mine = ((g) => () => g === generation)(++generation);
  const name = currentList();
  const panel = $('list-panel');
  for (const b of $('list-tabs').children) b.setAttribute('aria-selected', String(b.dataset.list === name));
  panel.dataset.list = name;
  delete panel.dataset.loaded;
  $('asset-filters').hidden = name !== 'assets' && name !== 'stale';
  const body = $('list-body');
  try {
    if (name === 'sites') {
      const sites = await loadSites(body);
      if (mine()) panel.dataset.loaded = name;
      return sites;
    }
    cursor = null;
    const [path, query, render] = renderers[name]();
    const { items, total, rows } = await loadPage(path, query, render);
    if (!mine()) return null;
    const list = el('ul', { class: 'asset-list', id: 'asset-list' }, ...rows);
    const footer = el('div', { class: 'list-footer' });
    const fillFooter = (shown) => {
      footer.replaceChildren(
        total != null ? el('p', { class: 'muted' }, ctx.t('list.count', { n: shown, total })) : null,
        cursor ? el('button', { type: 'button', textContent: ctx.t('list.more'), onclick: more }) : null,
      );
    };
    let shown = items.length;
    async function more() {
      const next = await loadPage(path, query, render, { more: true });
      if (!mine()) return;
      list.append(...next.rows);
      shown += next.items.length;
      fillFooter(shown);
    }
    fillFooter(shown);
    const q = ctx.params().get('q');
    body.replaceChildren(items.length ? list
      : el('p', { class: 'muted' }, name === 'assets' && q ? ctx.t('filter.search.none', { q }) : ctx.t('list.empty')), footer);
    panel.dataset.loaded = name;
    return items;
  } catch (e) {
    if (e.status === 401) location.reload();
    if (mine()) body.replaceChildren(el('p', { class: 'error' }, ctx.t('console.error.load', { message: e.message })));
    return null;
  }
}

/** Live: events that change an alert list reload it (coalesced); `resync` comes via refresh. */
export function followLive(events) {
  let timer = null;
  const soon = () => {
    if (timer || currentList() === 'assets') return;
    timer = setTimeout(() => { timer = null; reload(); }, LIVE_RELOAD_MS);
  };
  for (const kind of ['position', 'device_status', 'device_silent', 'geofence_enter', 'geofence_exit', 'meters']) {
    events.addEventListener(kind, soon);
  }
}
