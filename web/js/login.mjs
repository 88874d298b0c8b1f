// The login form: posts the credentials as JSON to POST /api/v1/auth/session, which sets the
// HttpOnly session cookie; then the console opens. Shown at `/` and, without a session, at
// `/console` itself, where a reload keeps the link's filters.
//
// Two-factor authentication: when the server answers `two_factor_required`, the form shows a
// code field and the next submit sends it (`totp_code` for 6 digits, else `recovery_code`).
// When it answers `two_factor_enrolment_required` (the user's role must use it and the user has
// none), the page enrols with the short-lived enrolment token of the answer — QR code, then a
// confirming code, then the recovery codes shown once — and returns to the form for a login
// with a code. The enrolment token is a bearer token kept only in this page's memory.
import './errors.mjs';
import { loadCatalogue, translate } from './i18n.mjs';
import { api, ApiError } from './api.mjs';

const { t } = await loadCatalogue();
translate(document, t);
document.title = t('login.title');

const form = document.getElementById('login-form');
const error = document.getElementById('login-error');
const submit = document.getElementById('login-submit');
const codeRow = document.getElementById('login-code-row');
const enrol = document.getElementById('enrol');
const enrolForm = document.getElementById('enrol-form');
const enrolError = document.getElementById('enrol-error');
const recovery = document.getElementById('recovery');

function showError(el, text) {
  el.textContent = text;
  el.hidden = false;
}

function askForCode() {
  codeRow.hidden = false;
  form.code.value = '';
  form.code.focus();
}

/** A call authenticated by the enrolment token (a bearer token: no cookie, no CSRF header). */
async function withToken(token, path, body) {
  const resp = await fetch(path, {
    method: 'POST',
    headers: {
      accept: 'application/json',
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    credentials: 'omit',
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await resp.json().catch(() => null);
  if (!resp.ok) throw new ApiError(resp.status, json);
  return json;
}

async function startEnrolment(token) {
  const setup = await withToken(token, '/api/v1/auth/2fa/setup');
  // The server's own SVG, parsed as an image document (scripts in it would never run).
  const svg = new DOMParser().parseFromString(setup.qr_svg, 'image/svg+xml').documentElement;
  document.getElementById('enrol-qr').replaceChildren(document.importNode(svg, true));
  document.getElementById('enrol-secret').textContent = setup.secret;
  form.hidden = true;
  enrol.hidden = false;
  enrolForm.code.focus();
  enrolForm.onsubmit = async (event) => {
    event.preventDefault();
    enrolError.hidden = true;
    try {
      const confirmed = await withToken(token, '/api/v1/auth/2fa/confirm', {
        code: enrolForm.code.value.replace(/\s/g, ''),
      });
      const list = document.getElementById('recovery-codes');
      list.replaceChildren(...confirmed.recovery_codes.map((c) => {
        const li = document.createElement('li');
        li.textContent = c;
        return li;
      }));
      enrol.hidden = true;
      recovery.hidden = false;
    } catch (e) {
      showError(enrolError, e.status === 422 ? t('enrol.error') : t('login.error.other'));
      enrolForm.code.value = '';
      enrolForm.code.focus();
    }
  };
}

document.getElementById('recovery-done').addEventListener('click', () => {
  recovery.hidden = true;
  form.hidden = false;
  askForCode();
});

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  error.hidden = true;
  submit.disabled = true;
  const body = { username: form.username.value, password: form.password.value };
  const code = form.code.value.replace(/\s/g, '');
  if (!codeRow.hidden && code) {
    if (/^\d{6}$/.test(code)) body.totp_code = code;
    else body.recovery_code = code;
  }
  try {
    await api('POST', '/api/v1/auth/session', body);
    if (location.pathname === '/console') location.reload();
    else location.assign('/console');
    return;
  } catch (e) {
    if (e.code === 'two_factor_required') {
      askForCode();
    } else if (e.code === 'invalid_two_factor_code') {
      showError(error, t('login.error.code'));
      askForCode();
    } else if (e.code === 'two_factor_enrolment_required' && e.detail?.enrolment_token) {
      try {
        await startEnrolment(e.detail.enrolment_token);
      } catch {
        showError(error, t('login.error.other'));
      }
    } else if (e.code === 'too_many_attempts') {
      const minutes = Math.max(1, Math.ceil((e.detail?.retry_after_secs ?? 60) / 60));
      showError(error, t('login.error.locked', { minutes }));
    } else {
      showError(error, e.status === 401 ? t('login.error.credentials') : t('login.error.other'));
      form.password.value = '';
      form.password.focus();
    }
  }
  submit.disabled = false;
});
submit.disabled = false;
document.body.dataset.ready = '1';
