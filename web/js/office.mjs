// The rental office's view of the console: `#office` in the URL's hash (beside the map's own
// `map=`, which MapLibre keeps), over the map. Customers: the list (search, value tier, credit
// grade, status, sort; the tier and grade shares on top) and the customer 360° panel
// (contacts, contracts, assets on hire, follow-ups newest first, complaints, the
// classification and its inputs, the deposits of live contracts). `#office=contracts`: the
// contracts (web/js/contracts.mjs). The selection (`customer=`, `contract=`) and the filters
// (`q=`, `tier=`, `grade=`, `cstatus=`, `sort=`, `kstatus=`) are in the hash too, so a link
// opens the same view and back/forward work.
//
// Only roles that may read customers (mobile_shared::authz `CustomerRead`) get the entry; the
// server checks every call whatever the page shows.
//
// Test hooks (api/tests/office_browser.rs): `#office-link`, `#office[data-view]`,
// `#customer-table[data-loaded]` with rows `tr[data-customer-id]`, `#customer-summary`,
// `#office-panel[data-loaded]` with `section[data-section]`s.
import { api, listAll } from './api.mjs';
import { el, option } from './lists.mjs';
import {
  initContracts, loadContracts, loadPipeline, showContract, statusText as contractStatus,
  money, day, period, knowCustomer, lineWhat, dl, LIVE_STATUSES,
} from './contracts.mjs';

/** The roles with `CustomerRead`. */
export const OFFICE_ROLES = ['rental_office', 'sales', 'finance', 'legal', 'admin'];
const CUSTOMER_STATUSES = ['lead', 'active', 'dormant', 'churned'];
const GRADES = ['A', 'B', 'C', 'D'];

let ctx = null;
let generation = 0;
let shown = null;
let shownFilters = null;
/** The filter inputs and their hash keys (values URI-encoded there). */
const FILTERS = [
  ['customer-q', 'q'], ['customer-tier', 'tier'], ['customer-grade', 'grade'],
  ['customer-status', 'cstatus'], ['customer-sort', 'sort'], ['contract-status', 'kstatus'],
];
let managers = null;
const $ = (id) => document.getElementById(id);

/** The hash's parts (`office=contracts&customer=…&map=…`) as a Map; a bare key maps to ''. */
function hashParts() {
  const parts = new Map();
  for (const p of location.hash.replace(/^#/, '').split('&').filter(Boolean)) {
    const i = p.indexOf('=');
    parts.set(i < 0 ? p : p.slice(0, i), i < 0 ? '' : p.slice(i + 1));
  }
  return parts;
}

/**
 * Changes parts of the hash (null deletes; values are encoded, the map's own part is kept as
 * MapLibre wrote it), a history entry (`replace`: none), and shows the result.
 */
function setHash(changes, { replace = false } = {}) {
  const parts = hashParts();
  for (const [k, v] of Object.entries(changes)) {
    if (v === null) parts.delete(k);
    else parts.set(k, encodeURIComponent(v));
  }
  const hash = [...parts].map(([k, v]) => (v === '' ? k : `${k}=${v}`)).join('&');
  const url = `${location.pathname}${location.search}${hash ? `#${hash}` : ''}`;
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  route();
}

/** The filters as hash changes (an empty input removes its key). */
function filterChanges() {
  return Object.fromEntries(FILTERS.map(([id, key]) => [key, $(id).value.trim() || null]));
}

/** Sets the filter inputs from the hash (a value not offered yet is added to its picker). */
function syncFilters() {
  const parts = hashParts();
  for (const [id, key] of FILTERS) {
    let v = '';
    try {
      v = parts.has(key) ? decodeURIComponent(parts.get(key)) : '';
    } catch {
      // a hand-edited, badly encoded value: the filter is off
    }
    const input = $(id);
    if (input === document.activeElement && input.tagName === 'INPUT') continue; // being typed in
    if (input.tagName === 'SELECT' && v && ![...input.options].some((o) => o.value === v)) input.append(option(v, v));
    input.value = v || (id === 'customer-sort' ? 'name' : '');
  }
}

function customerStatus(s) {
  const { t } = ctx;
  return {
    lead: t('office.status.lead'),
    active: t('office.status.active'),
    dormant: t('office.status.dormant'),
    churned: t('office.status.churned'),
  }[s] || s;
}

/**
 * Sets the office view up for `context` (console.mjs's `{ t, lang, me }`): the header entry
 * for roles that may read customers, the filters, and the routing by hash.
 */
export async function initOffice(context) {
  ctx = context;
  const { t } = ctx;
  if (!OFFICE_ROLES.includes(ctx.me?.role)) {
    $('office-link').remove();
    $('office').remove();
    return;
  }
  $('office-link').hidden = false;
  $('office-link').addEventListener('click', (e) => { e.preventDefault(); setHash({ office: '' }); });
  $('office-back').addEventListener('click', (e) => {
    e.preventDefault();
    setHash({ office: null, customer: null, contract: null });
  });
  for (const b of document.querySelectorAll('#office-tabs button[data-office-view]')) {
    b.addEventListener('click', () => setHash({ office: b.dataset.officeView === 'customers' ? '' : b.dataset.officeView }));
  }
  $('office-panel-close').addEventListener('click', () => setHash({ customer: null, contract: null }));

  $('customer-status').append(option('', t('console.filter.any')), ...CUSTOMER_STATUSES.map((s) => option(s, customerStatus(s))));
  $('customer-grade').append(option('', t('console.filter.any')), ...GRADES.map((g) => option(g, g)));
  $('customer-tier').append(option('', t('console.filter.any')));
  $('customer-sort').append(
    option('name', t('office.sort.name')),
    option('created', t('office.sort.created')),
    option('value_tier', t('office.sort.value_tier')),
    option('credit_grade', t('office.sort.credit_grade')),
  );
  for (const id of ['customer-status', 'customer-grade', 'customer-tier', 'customer-sort']) {
    $(id).addEventListener('change', () => setHash(filterChanges()));
  }
  // Typing replaces the history entry: not one per keystroke.
  let typing = null;
  $('customer-q').addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(() => setHash(filterChanges(), { replace: true }), 250);
  });
  initContracts({
    t,
    lang: ctx.lang,
    open: (sel) => setHash({ customer: null, contract: null, ...sel }),
    filter: () => setHash(filterChanges()),
  });
  window.addEventListener('hashchange', route);
  window.addEventListener('popstate', route);
  await route();
}

/** Shows what the hash says: the map, the customers or the contracts, and the selection. */
async function route() {
  const office = $('office');
  if (!office) return;
  const parts = hashParts();
  const key = ['office', 'customer', 'contract'].map((k) => `${k}:${parts.get(k)}`).join('|');
  const filters = FILTERS.map(([, k]) => parts.get(k)).join('|');
  if (key === shown && filters === shownFilters) return;
  const was = shown;
  const refilter = filters !== shownFilters;
  shown = key;
  shownFilters = filters;
  if (!parts.has('office')) {
    office.hidden = true;
    return;
  }
  const view = parts.get('office') === 'contracts' ? 'contracts' : 'customers';
  const switched = !was || !was.startsWith(`office:${parts.get('office')}|`);
  office.hidden = false;
  office.dataset.view = view;
  $('office-customers').hidden = view !== 'customers';
  $('office-contracts').hidden = view !== 'contracts';
  for (const b of document.querySelectorAll('#office-tabs button[data-office-view]')) {
    b.setAttribute('aria-selected', String(b.dataset.officeView === view));
  }
  const loads = [];
  if (switched || refilter) syncFilters();
  if (view === 'customers') {
    if (switched) loads.push(loadSummary());
    if (switched || refilter) loads.push(loadCustomers());
  } else {
    if (switched) loads.push(loadPipeline());
    if (switched || refilter) loads.push(loadContracts());
  }
  if (key !== was) loads.push(showPanel(parts.get('customer'), parts.get('contract')));
  await Promise.all(loads);
}

// ---- customers --------------------------------------------------------------------------------

/** Account managers' names; empty for a role that may not list users (ids are shown then). */
function managerNames() {
  if (!managers) {
    managers = listAll('/api/v1/users', {}, 2)
      .then((users) => new Map(users.map((u) => [u.id, u.username])))
      .catch(() => new Map());
  }
  return managers;
}

function shareText(s) {
  const pct = new Intl.NumberFormat(ctx.lang, { style: 'percent', maximumFractionDigits: 0 }).format(s.share);
  return ctx.t('office.summary.share', { value: s.value ?? ctx.t('office.unclassified'), n: s.count, pct });
}

/** The tier and grade shares, and the tier picker's values (tiers are settings, not code). */
async function loadSummary() {
  const { t } = ctx;
  const box = $('customer-summary');
  try {
    const s = await api('GET', '/api/v1/customers/summary');
    const line = (key, name, shares) => el('p', { dataset: { summary: name } },
      el('strong', {}, `${t(key)}: `), shares.length ? shares.map(shareText).join(' · ') : t('office.summary.none'));
    box.replaceChildren(
      el('p', {}, t('office.summary.total', { n: s.total })),
      line('office.tier', 'tier', s.by_value_tier),
      line('office.grade', 'grade', s.by_credit_grade));
    const tier = $('customer-tier');
    const current = tier.value;
    tier.replaceChildren(option('', t('console.filter.any')),
      ...s.by_value_tier.filter((x) => x.value != null).map((x) => option(x.value, x.value)));
    if (current && ![...tier.options].some((o) => o.value === current)) tier.append(option(current, current));
    tier.value = current;
  } catch (e) {
    if (e.status === 401) location.reload();
    box.replaceChildren(el('p', { class: 'error' }, t('console.error.load', { message: e.message })));
  }
}

/** One page (100) of customers with the filters. */
async function loadCustomers() {
  const { t } = ctx;
  const mine = ((g) => () => g === generation)(++generation);
  const table = $('customer-table');
  delete table.dataset.loaded;
  const q = new URLSearchParams({ limit: '100' });
  const text = $('customer-q').value.trim();
  if (text) q.set('q', text);
  for (const [id, name] of [['customer-tier', 'value_tier'], ['customer-grade', 'credit_grade'], ['customer-status', 'status'], ['customer-sort', 'sort']]) {
    if ($(id).value) q.set(name, $(id).value);
  }
  const body = table.querySelector('tbody');
  try {
    const [page, names] = await Promise.all([api('GET', `/api/v1/customers?${q}`), managerNames()]);
    if (!mine()) return;
    body.replaceChildren(...page.items.map((c) => {
      knowCustomer(c);
      const tr = el('tr', { dataset: { customerId: c.id }, tabIndex: 0 },
        el('td', {}, c.legal_name),
        el('td', { dataset: { status: c.status } }, customerStatus(c.status)),
        el('td', { dataset: { tier: c.value_tier || '' } }, c.value_tier || '—'),
        el('td', { dataset: { grade: c.credit_grade || '' } }, c.credit_grade || '—'),
        el('td', {}, c.account_manager_id ? (names.get(c.account_manager_id) || c.account_manager_id.slice(0, 8)) : '—'));
      const open = () => setHash({ customer: c.id, contract: null });
      tr.addEventListener('click', open);
      tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') open(); });
      return tr;
    }));
    $('customer-empty').hidden = page.items.length > 0;
    table.dataset.loaded = String(page.items.length);
  } catch (e) {
    if (e.status === 401) location.reload();
    if (mine()) body.replaceChildren(el('tr', {}, el('td', { class: 'error', colSpan: 5 }, t('console.error.load', { message: e.message }))));
  }
}

// ---- the panel (customer 360°, or a contract) -------------------------------------------------

function section(name, titleKey) {
  const body = el('div', { class: 'section-body' }, ctx.t('console.loading'));
  $('office-panel-sections').append(el('section', { class: 'drawer-section', dataset: { section: name } },
    el('h3', {}, ctx.t(titleKey)), body));
  return body;
}

function fail(body, mine = () => true) {
  return (e) => {
    if (e.status === 401) location.reload();
    if (mine()) body.replaceChildren(el('p', { class: 'muted' }, ctx.t('drawer.unavailable')));
  };
}

function list(items, render, noneKey) {
  return items.length ? el('ul', { class: 'plain' }, ...items.map(render)) : el('p', { class: 'muted' }, ctx.t(noneKey));
}

let panelGeneration = 0;

async function showPanel(customerId, contractId) {
  const panel = $('office-panel');
  const mine = ((g) => () => g === panelGeneration)(++panelGeneration);
  delete panel.dataset.loaded;
  delete panel.dataset.customerId;
  delete panel.dataset.contractId;
  if (!customerId && !contractId) {
    panel.hidden = true;
    return;
  }
  $('office-panel-sections').replaceChildren();
  const title = $('office-panel-title');
  const head = $('office-panel-head');
  title.textContent = ctx.t('console.loading');
  head.replaceChildren();
  panel.hidden = false;
  try {
    if (contractId) {
      panel.dataset.contractId = contractId;
      await showContract(contractId, { title, head, section, fail: (b) => fail(b, mine), mine });
    } else {
      panel.dataset.customerId = customerId;
      await showCustomer(customerId, { title, head, mine });
    }
  } catch (e) {
    if (e.status === 401) location.reload();
    if (mine()) title.textContent = ctx.t('console.error.load', { message: e.message });
    return;
  }
  if (mine()) panel.dataset.loaded = contractId || customerId;
}

async function showCustomer(id, { title, head, mine }) {
  const { t, lang } = ctx;
  const c = await api('GET', `/api/v1/customers/${id}`);
  if (!mine()) return;
  title.textContent = c.legal_name;
  head.replaceChildren(dl([
    ['office.status', customerStatus(c.status)],
    ['office.tier', c.value_tier || '—'],
    ['office.grade', c.credit_grade || '—'],
    ['office.industry', c.industry],
    ['office.region', c.region],
    ['office.credit_limit', c.credit_limit_cents == null ? null : money(c.credit_limit_cents, c.currency, lang)],
    ['office.payment_terms', c.payment_terms_days == null ? null : t('office.payment_terms.days', { n: c.payment_terms_days })],
    ['office.renewals_frozen', c.renewals_frozen_at ? day(c.renewals_frozen_at, lang) : null],
  ]));
  const contacts = section('contacts', 'office.contacts');
  contacts.replaceChildren(list(c.contacts, (p) => el('li', { dataset: { contactId: p.id } },
    [p.name, p.role, p.phone, p.email].filter(Boolean).join(' · ')), 'office.contacts.none'));

  const contractsBody = section('contracts', 'office.contracts');
  const hireBody = section('on-hire', 'office.on_hire');
  const depositBody = section('deposits', 'office.deposits');
  const contractsRead = listAll('/api/v1/contracts', { customer_id: id }, 4);
  const parts = [
    contractsRead.then((contracts) => {
      if (!mine()) return;
      contractsBody.replaceChildren(list(contracts, (k) => el('li', {}, el('button', {
        type: 'button', class: 'link', dataset: { contractId: k.id },
        textContent: `${k.number} · ${contractStatus(k.status)} · ${period(k)}`,
        onclick: () => setHash({ contract: k.id, customer: null }),
      })), 'office.contracts.none'));
      fillDeposits(depositBody, contracts.filter((k) => LIVE_STATUSES.includes(k.status)));
    }).catch((e) => { fail(contractsBody, mine)(e); fail(depositBody, mine)(e); }),
    contractsRead.then((contracts) => fillOnHire(hireBody, contracts.filter((k) => LIVE_STATUSES.includes(k.status)), mine))
      .catch(fail(hireBody, mine)),
    fillFollowUps(section('follow-ups', 'office.follow_ups'), id, mine),
    fillComplaints(section('complaints', 'office.complaints'), id, mine),
    fillClassification(section('classification', 'office.classification'), id, mine),
  ];
  await Promise.all(parts);
}

/** Deposits of the live contracts, summed per currency in minor units (integers). */
function fillDeposits(body, live) {
  const { t, lang } = ctx;
  const sums = new Map();
  for (const k of live) sums.set(k.currency, (sums.get(k.currency) || 0) + k.deposit_cents);
  body.replaceChildren(
    el('p', { class: 'muted' }, t('office.deposits.note')),
    sums.size
      ? el('p', { dataset: { deposits: [...sums].map(([cur, v]) => `${v} ${cur}`).join(',') } },
        [...sums].map(([cur, v]) => money(v, cur, lang)).join(' · '))
      : el('p', { class: 'muted' }, t('office.deposits.none')));
}

/** Assets out now (open on-hire periods) and assets booked on live lines, not delivered yet. */
async function fillOnHire(body, live, mine) {
  const { t, lang } = ctx;
  const hires = await Promise.all(live.map((k) => api('GET', `/api/v1/contracts/${k.id}/on-hire`)));
  const rows = [];
  for (const [i, k] of live.entries()) {
    const open = hires[i].periods.filter((p) => !p.off_hire_at);
    for (const p of open) {
      rows.push(el('li', { dataset: { asset: p.asset_code, hire: 'out' } },
        t('office.on_hire.out', { asset: p.asset_code, contract: k.number, since: day(p.on_hire_at, lang) })));
    }
    const out = new Set(open.map((p) => p.contract_line_id));
    const waiting = k.lines.filter((l) => !out.has(l.id) && !l.off_hire_at);
    const whats = await Promise.all(waiting.map(lineWhat));
    waiting.forEach((l, j) => rows.push(el('li', { dataset: { asset: l.asset_id ? whats[j] : '', hire: 'booked' } },
      t('office.on_hire.booked', { asset: whats[j], contract: k.number, from: day(k.starts_on, lang) }))));
  }
  if (!mine()) return;
  body.replaceChildren(rows.length ? el('ul', { class: 'plain' }, ...rows) : el('p', { class: 'muted' }, t('office.on_hire.none')));
}

function channel(c) {
  const { t } = ctx;
  return {
    phone: t('office.channel.phone'),
    email: t('office.channel.email'),
    sms: t('office.channel.sms'),
    whatsapp: t('office.channel.whatsapp'),
    visit: t('office.channel.visit'),
    meeting: t('office.channel.meeting'),
  }[c] || c;
}

async function fillFollowUps(body, id, mine) {
  const { t, lang } = ctx;
  try {
    const page = await api('GET', `/api/v1/customers/${id}/follow-ups?limit=50`);
    if (!mine()) return;
    const items = [...page.items].sort((a, b) => b.at.localeCompare(a.at));
    body.replaceChildren(list(items, (f) => el('li', { dataset: { followUpId: f.id } },
      t('office.follow_up.line', {
        at: new Date(f.at).toLocaleString(lang, { dateStyle: 'medium', timeStyle: 'short' }),
        channel: channel(f.channel),
        outcome: f.outcome,
      }),
      f.next_step ? el('span', { class: 'muted' }, ` · ${t('office.follow_up.next', { step: f.next_step, on: day(f.next_step_on, lang) })}`) : null),
    'office.follow_ups.none'));
  } catch (e) {
    fail(body, mine)(e);
  }
}

async function fillComplaints(body, id, mine) {
  const { t, lang } = ctx;
  try {
    const page = await api('GET', `/api/v1/complaints?${new URLSearchParams({ customer_id: id, limit: '50' })}`);
    if (!mine()) return;
    body.replaceChildren(list(page.items, (c) => el('li', { dataset: { complaintId: c.id } },
      t(c.closed_at ? 'office.complaint.closed' : 'office.complaint.open', {
        category: c.category, opened: day(c.opened_at, lang), closed: day(c.closed_at, lang),
      })), 'office.complaints.none'));
  } catch (e) {
    fail(body, mine)(e);
  }
}

function stage(s) {
  const { t } = ctx;
  return {
    prospect: t('office.stage.prospect'),
    new: t('office.stage.new'),
    active: t('office.stage.active'),
    dormant: t('office.stage.dormant'),
    lapsed: t('office.stage.lapsed'),
  }[s] || s;
}

function creditInput(name) {
  const { t } = ctx;
  return {
    payment_history: t('office.credit.payment_history'),
    tenure: t('office.credit.tenure'),
    complaints: t('office.credit.complaints'),
    current_overdue: t('office.credit.current_overdue'),
  }[name] || name;
}

/** The tier, the grade and which inputs gave which score (the stored breakdown). */
async function fillClassification(body, id, mine) {
  const { t, lang } = ctx;
  let k;
  try {
    k = await api('GET', `/api/v1/customers/${id}/classification`);
  } catch (e) {
    if (e.status === 404) {
      if (mine()) body.replaceChildren(el('p', { class: 'muted' }, t('office.classification.none')));
      return;
    }
    fail(body, mine)(e);
    return;
  }
  if (!mine()) return;
  const b = k.breakdown;
  const rfm = b.rfm;
  const rows = [
    ['office.tier', k.value_tier],
    ['office.grade', k.credit_grade],
    ['office.stage', stage(k.lifecycle_stage)],
    ['office.classification.limit', money(k.credit_limit_cents, k.currency, lang)],
    ['office.classification.auto_renew', k.auto_renew_allowed ? t('office.yes') : t('office.no')],
    ['office.classification.as_of', day(b.as_of, lang)],
  ];
  if (rfm) {
    rows.push(
      ['office.rfm.recency', t('office.rfm.score', { value: t('office.rfm.days', { n: rfm.recency_days.value }), score: rfm.recency_days.score })],
      ['office.rfm.frequency', t('office.rfm.score', { value: rfm.frequency.value, score: rfm.frequency.score })],
      ['office.rfm.monetary', t('office.rfm.score', { value: money(rfm.monetary_cents.value, rfm.currency, lang), score: rfm.monetary_cents.score })],
    );
  }
  const inputs = el('ul', { class: 'plain' }, ...b.credit.inputs.map((i) => el('li', { dataset: { input: i.input } },
    t(i.status === 'measured' ? 'office.credit.measured' : 'office.credit.unknown', {
      input: creditInput(i.input), value: i.value ?? '', points: i.points, max: i.max_points,
    }))));
  body.replaceChildren(dl(rows),
    el('p', {}, t('office.credit.score', { score: b.credit.score })), inputs);
}
