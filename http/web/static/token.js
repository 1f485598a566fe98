// The API token: asked for after a 401, kept in sessionStorage (this tab
// only), sent as Authorization: Bearer where a header can be set and as
// ?token= where it cannot (EventSource, <img>).

const KEY = 'backlot.token';
const form = document.querySelector('#token-form');
const input = document.querySelector('#token');
const help = document.querySelector('#token-help');
let waiting = []; // what to retry once a token is entered

export const token = () => sessionStorage.getItem(KEY) || '';

export const authHeaders = () => (token() ? { Authorization: 'Bearer ' + token() } : {});

// withToken returns url with ?token= (when one is set) and params added.
export function withToken(url, params = {}) {
  const u = new URL(url, location.href);
  if (token()) u.searchParams.set('token', token());
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.pathname + u.search;
}

// askToken shows the token field; retry runs once a token is entered.
export function askToken(retry) {
  waiting.push(retry);
  help.textContent = token()
    ? 'The server did not accept this token. Enter the right one.'
    : 'This server needs an API token. It is kept in this browser tab only.';
  if (form.hidden) {
    form.hidden = false;
    input.value = '';
    input.focus();
  }
}

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const t = input.value.trim();
  if (!t) {
    input.focus();
    return;
  }
  sessionStorage.setItem(KEY, t);
  form.hidden = true;
  const todo = waiting;
  waiting = [];
  for (const retry of todo) retry();
});
