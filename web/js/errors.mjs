// Records what goes wrong in the page on `body[data-errors]` (one line per error): uncaught
// errors, rejected promises, Content-Security-Policy violations. The browser tests read it, so
// a page that "works" while throwing fails them. Imported first by each page script.

const seen = [];

export function record(what) {
  seen.push(String(what));
  if (document.body) document.body.dataset.errors = seen.join('\n');
}

window.addEventListener('error', (e) => record(`error: ${e.message} at ${e.filename}:${e.lineno}`));
window.addEventListener('unhandledrejection', (e) => record(`unhandled rejection: ${e.reason}`));
document.addEventListener('securitypolicyviolation', (e) =>
  record(`csp: ${e.violatedDirective} blocked ${e.blockedURI}`));
