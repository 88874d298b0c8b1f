// The login form: posts the credentials as JSON to POST /api/v1/auth/session, which sets the
// HttpOnly session cookie; then the console opens. Shown at `/` and, without a session, at
// `/console` itself, where a reload keeps the link's filters.
import './errors.mjs';
import { loadCatalogue, translate } from './i18n.mjs';
import { api } from './api.mjs';

const { t } = await loadCatalogue();
translate(document, t);
document.title = t('login.title');

const form = document.getElementById('login-form');
const error = document.getElementById('login-error');
const submit = document.getElementById('login-submit');

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  error.hidden = true;
  submit.disabled = true;
  try {
    await api('POST', '/api/v1/auth/session', {
      username: form.username.value,
      password: form.password.value,
    });
    if (location.pathname === '/console') location.reload();
    else location.assign('/console');
  } catch (e) {
    error.textContent = e.status === 401 ? t('login.error.credentials') : t('login.error.other');
    error.hidden = false;
    form.password.value = '';
    form.password.focus();
    submit.disabled = false;
  }
});
submit.disabled = false;
document.body.dataset.ready = '1';
