// The rental office's contracts (web/js/office.mjs shows them under `#office=contracts`): the
// list filtered by status, the renewal pipeline (live contracts by days to their end, in the
// columns ≤15, ≤30, ≤60, ≤90 and later: the task engine's renewal steps) and the contract
// detail (lines with asset codes and rates, status, the signed documents).
//
// Money arrives as integer minor units and a currency; it is only ever divided to be shown
// (`money`), never computed with as a float.
//
// Test hooks (api/tests/office_browser.rs): `#contract-table[data-loaded]`, rows
// `tr[data-contract-id]`, `#pipeline[data-loaded]`, columns `[data-bucket]` holding
// `button[data-contract-id]`, the panel's `[data-section]`s.
import { api, listAll } from './api.mjs';
import { el, option } from './lists.mjs';

/** `ContractStatus` on the wire (mobile_shared::contracts). */
export const CONTRACT_STATUSES = ['draft', 'signed', 'active', 'expiring', 'renewed', 'ended', 'terminated'];
/** The live ones (`ContractStatus::is_live`): what the pipeline and the deposits count. */
export const LIVE_STATUSES = ['signed', 'active', 'expiring'];
/** Upper bounds (days to the end) of the pipeline's columns; the last column is "later". */
export const BUCKETS = [15, 30, 60, 90];

let ctx = null;
const $ = (id) => document.getElementById(id);
const customerNames = new Map();
const assetCodes = new Map();
let categoryNames = null;

/**
 * Minor units as money in the page's language. The amount stays an integer everywhere else;
 * the currency's own number of decimals (2 for EUR, 0 for JPY) scales it for the formatter.
 */
export function money(minor, currency, lang) {
  if (minor == null) return '—';
  try {
    const fmt = new Intl.NumberFormat(lang, { style: 'currency', currency });
    return fmt.format(minor / 10 ** fmt.resolvedOptions().maximumFractionDigits);
  } catch {
    return `${minor} ${currency}`; // an unknown code: the raw amount, never a wrong one
  }
}

/** A `YYYY-MM-DD` day in the page's language. */
export function day(iso, lang) {
  if (!iso) return '—';
  return new Date(`${iso.slice(0, 10)}T00:00`).toLocaleDateString(lang, { dateStyle: 'medium' });
}

/** Whole days from today (the browser's calendar day) to the day `iso` (`YYYY-MM-DD`). */
export function daysUntil(iso, now = new Date()) {
  const [y, m, d] = iso.split('-').map(Number);
  return Math.round((Date.UTC(y, m - 1, d) - Date.UTC(now.getFullYear(), now.getMonth(), now.getDate())) / 86400000);
}

/** The pipeline column of a contract ending in `days` days: a bound of BUCKETS, or 'later'. */
export function bucketOf(days) {
  const b = BUCKETS.find((limit) => days <= limit);
  return b == null ? 'later' : String(b);
}

export function statusText(status) {
  const { t } = ctx;
  return {
    draft: t('contract.status.draft'),
    signed: t('contract.status.signed'),
    active: t('contract.status.active'),
    expiring: t('contract.status.expiring'),
    renewed: t('contract.status.renewed'),
    ended: t('contract.status.ended'),
    terminated: t('contract.status.terminated'),
  }[status] || status;
}

function rateText(line, currency) {
  const { t } = ctx;
  const amount = money(line.rate_cents, currency, ctx.lang);
  return {
    day: t('contract.rate.day', { amount }),
    week: t('contract.rate.week', { amount }),
    month: t('contract.rate.month', { amount }),
  }[line.rate_period] || amount;
}

export function period(c) {
  return ctx.t('contract.period', { from: day(c.starts_on, ctx.lang), to: day(c.ends_on, ctx.lang) });
}

/** The customer's name, read once per page. */
export function customerName(id) {
  if (!customerNames.has(id)) {
    customerNames.set(id, api('GET', `/api/v1/customers/${id}`).then((c) => c.legal_name).catch(() => id.slice(0, 8)));
  }
  return customerNames.get(id);
}

/** Remembers names the customer list already read. */
export function knowCustomer(c) {
  customerNames.set(c.id, Promise.resolve(c.legal_name));
}

/** An asset's code, read once per page. */
export function assetCode(id) {
  if (!assetCodes.has(id)) {
    assetCodes.set(id, api('GET', `/api/v1/assets/${id}`).then((a) => a.code).catch(() => id.slice(0, 8)));
  }
  return assetCodes.get(id);
}

async function categoryName(id) {
  if (!categoryNames) {
    categoryNames = listAll('/api/v1/categories', {}, 4)
      .then((cats) => new Map(cats.map((c) => [c.id, c.name])))
      .catch(() => new Map());
  }
  return (await categoryNames).get(id) || id.slice(0, 8);
}

/** What a line rents: its asset's code, or its category and quantity. */
export async function lineWhat(line) {
  if (line.asset_id) return assetCode(line.asset_id);
  return ctx.t('contract.line.category', { category: await categoryName(line.category_id), n: line.quantity });
}

/**
 * `context`: office.mjs's `{ t, lang, open, filter }` (`open({contract})` selects a contract,
 * `filter()` puts the status picker into the URL and reloads the list).
 */
export function initContracts(context) {
  ctx = context;
  const { t } = ctx;
  const status = $('contract-status');
  status.append(option('', t('console.filter.any')), ...CONTRACT_STATUSES.map((s) => option(s, statusText(s))));
  status.addEventListener('change', () => ctx.filter());
}

function contractRow(c, name) {
  const tr = el('tr', { dataset: { contractId: c.id }, tabIndex: 0 },
    el('td', {}, c.number),
    el('td', {}, name),
    el('td', { dataset: { status: c.status } }, statusText(c.status)),
    el('td', {}, period(c)),
    el('td', { class: 'num' }, money(c.deposit_cents, c.currency, ctx.lang)));
  const open = () => ctx.open({ contract: c.id });
  tr.addEventListener('click', open);
  tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') open(); });
  return tr;
}

/** The contract list, filtered by the status picker (one page of 100, oldest end first). */
let listGeneration = 0;

export async function loadContracts() {
  const mine = ((g) => () => g === listGeneration)(++listGeneration);
  const table = $('contract-table');
  delete table.dataset.loaded;
  const q = new URLSearchParams({ limit: '100' });
  if ($('contract-status').value) q.set('status', $('contract-status').value);
  const body = table.querySelector('tbody');
  try {
    const page = await api('GET', `/api/v1/contracts?${q}`);
    const names = await Promise.all(page.items.map((c) => customerName(c.customer_id)));
    if (!mine()) return; // the status picker changed meanwhile
    body.replaceChildren(...page.items.map((c, i) => contractRow(c, names[i])));
    $('contract-empty').hidden = page.items.length > 0;
    table.dataset.loaded = String(page.items.length);
  } catch (e) {
    if (e.status === 401) location.reload();
    if (mine()) body.replaceChildren(el('tr', {}, el('td', { class: 'error', colSpan: 5 }, ctx.t('console.error.load', { message: e.message }))));
  }
}

/** Live contracts (signed, active, expiring) in columns by days to their end. */
export async function loadPipeline() {
  const { t } = ctx;
  const pipeline = $('pipeline');
  delete pipeline.dataset.loaded;
  let live;
  try {
    live = (await Promise.all(LIVE_STATUSES.map((status) => listAll('/api/v1/contracts', { status }, 10)))).flat();
  } catch (e) {
    if (e.status === 401) location.reload();
    pipeline.replaceChildren(el('p', { class: 'error' }, t('console.error.load', { message: e.message })));
    return;
  }
  const columns = [...BUCKETS.map(String), 'later'];
  const titles = {
    15: t('contract.pipeline.within', { n: 15 }),
    30: t('contract.pipeline.within', { n: 30 }),
    60: t('contract.pipeline.within', { n: 60 }),
    90: t('contract.pipeline.within', { n: 90 }),
    later: t('contract.pipeline.later'),
  };
  const byBucket = new Map(columns.map((b) => [b, []]));
  for (const c of live) byBucket.get(bucketOf(daysUntil(c.ends_on))).push(c);
  const names = new Map(await Promise.all(live.map(async (c) => [c.id, await customerName(c.customer_id)])));
  pipeline.replaceChildren(...columns.map((b) => {
    const items = byBucket.get(b).sort((x, y) => x.ends_on.localeCompare(y.ends_on));
    return el('section', { class: 'pipeline-column', dataset: { bucket: b } },
      el('h3', {}, `${titles[b]} (${items.length})`),
      el('ul', { class: 'plain' }, ...items.map((c) => el('li', {}, el('button', {
        type: 'button', class: 'card', dataset: { contractId: c.id },
        textContent: t('contract.pipeline.card', {
          number: c.number, customer: names.get(c.id), end: day(c.ends_on, ctx.lang), n: daysUntil(c.ends_on),
        }),
        onclick: () => ctx.open({ contract: c.id }),
      })))));
  }));
  pipeline.dataset.loaded = String(live.length);
}

/** A `<dl>` of `[key, value]` pairs (labels from the catalogue; empty values left out). */
export function dl(pairs) {
  return el('dl', { class: 'facts' }, ...pairs.filter(([, v]) => v != null && v !== '').flatMap(([k, v]) => [
    el('dt', {}, ctx.t(k)), el('dd', { dataset: { field: k } }, v)]));
}

async function fillLines(body, c) {
  const { t } = ctx;
  const whats = await Promise.all(c.lines.map(lineWhat));
  const head = el('tr', {}, ...['contract.line.no', 'contract.line.what', 'contract.line.rate', 'contract.line.hire']
    .map((k) => el('th', {}, t(k))));
  body.replaceChildren(c.lines.length ? el('table', { class: 'office-table' }, el('thead', {}, head),
    el('tbody', {}, ...c.lines.map((l, i) => el('tr', { dataset: { lineNo: String(l.line_no) } },
      el('td', { class: 'num' }, String(l.line_no)),
      el('td', { dataset: { asset: l.asset_id ? whats[i] : '' } }, whats[i]),
      el('td', { class: 'num' }, rateText(l, c.currency)),
      el('td', {}, hireText(l))))))
    : el('p', { class: 'muted' }, t('contract.lines.none')));
}

function hireText(l) {
  const { t } = ctx;
  if (l.off_hire_at) return t('contract.hire.returned', { at: day(l.off_hire_at, ctx.lang) });
  if (l.on_hire_at) return t('contract.hire.since', { at: day(l.on_hire_at, ctx.lang) });
  return t('contract.hire.not_delivered');
}

async function fillDocuments(body, id) {
  const { t } = ctx;
  const docs = await api('GET', `/api/v1/contracts/${id}/documents`);
  body.replaceChildren(docs.length ? el('ul', { class: 'plain' }, ...docs.map((d) => el('li', { dataset: { documentId: d.id } },
    el('a', { href: `/api/v1/contracts/${id}/documents/${d.id}`, target: '_blank', rel: 'noopener', textContent: d.title || d.filename }),
    el('span', { class: 'muted' }, ` · ${t('contract.document.line', {
      signed: day(d.signed_on, ctx.lang), size: Math.ceil(d.size_bytes / 1024), sha: d.sha256.slice(0, 12),
    })}`))))
    : el('p', { class: 'muted' }, t('contract.documents.none')));
}

/**
 * The contract's detail into the office panel: `section(name, titleKey)` adds a section and
 * returns its body, `mine()` is false once another selection took the panel (office.mjs).
 * Each part fails on its own (a role without the document archive still sees the lines).
 */
export async function showContract(id, { title, head, section, fail, mine }) {
  const { t } = ctx;
  const c = await api('GET', `/api/v1/contracts/${id}`);
  const customer = await customerName(c.customer_id);
  if (!mine()) return; // another selection took the panel meanwhile
  title.textContent = t('contract.title', { number: c.number });
  head.replaceChildren(dl([
    ['contract.status', statusText(c.status)],
    ['contract.customer', customer],
    ['contract.period_label', period(c)],
    ['contract.deposit', money(c.deposit_cents, c.currency, ctx.lang)],
    ['contract.billing_cycle', {
      weekly: t('contract.billing.weekly'), monthly: t('contract.billing.monthly'), end_of_hire: t('contract.billing.end_of_hire'),
    }[c.billing_cycle] || c.billing_cycle],
    ['contract.auto_renew', c.auto_renew ? t('office.yes') : t('office.no')],
    ['contract.notes', c.notes],
  ]));
  await Promise.all([
    fillLines(section('lines', 'contract.lines'), c),
    (async () => { const b = section('documents', 'contract.documents'); await fillDocuments(b, id).catch(fail(b)); })(),
  ]);
}
