// Every user-visible string comes from one catalogue per language (web/i18n/<lang>.json); a new
// language is a new file plus a line in LANGUAGES. The language is `?lang=` when the URL names
// one (links carry it), else the signed-in user's setting (`locale` of GET
// /api/v1/auth/session, chosen with the header's picker), else the browser's preferred
// languages, else English.

export const LANGUAGES = ['en', 'zh-CN'];

/** The catalogue language for a list of BCP 47 tags, best first. */
export function pickLanguage(wanted) {
  for (const tag of wanted) {
    const t = String(tag).toLowerCase();
    const exact = LANGUAGES.find((l) => l.toLowerCase() === t);
    if (exact) return exact;
    // Any Chinese reads the Simplified catalogue: it is the only Chinese one.
    if (t === 'zh' || t.startsWith('zh-')) return 'zh-CN';
    if (t === 'en' || t.startsWith('en-')) return 'en';
  }
  return 'en';
}

/**
 * Loads the catalogue and returns `t(key, vars)`; unknown keys show as themselves. `user`: the
 * signed-in user's language setting, if any.
 */
export async function loadCatalogue({ user = null } = {}) {
  const fromUrl = new URLSearchParams(location.search).get('lang');
  const lang = pickLanguage([fromUrl, user, ...(navigator.languages || [navigator.language])].filter(Boolean));
  const resp = await fetch(`/static/i18n/${lang}.json`);
  const catalogue = resp.ok ? await resp.json() : {};
  document.documentElement.lang = lang;
  document.documentElement.dataset.lang = lang;
  const t = (key, vars = {}) =>
    (catalogue[key] ?? key).replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ''));
  return { lang, t };
}

/** Fills `data-i18n` (text), `data-i18n-placeholder` and `data-i18n-title` under `root`. */
export function translate(root, t) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll('[data-i18n-placeholder]')) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll('[data-i18n-title]')) el.title = t(el.dataset.i18nTitle);
}
