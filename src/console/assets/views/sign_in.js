// Sign in: an API token is exchanged for a session cookie (HttpOnly: the page never sees it).
import { api, session } from '../api.js';
import { h } from '../format.js';
import { navigate } from '../app.js';

export function render(main) {
  const error = h('p', { class: 'error', id: 'sign-in-error', role: 'alert' });
  const token = h('input', {
    id: 'token', name: 'token', type: 'password', autocomplete: 'current-password', required: true,
    spellcheck: 'false', placeholder: 'kiln_…', 'aria-describedby': 'token-help sign-in-error',
  });
  const form = h('form', { class: 'card narrow', 'aria-labelledby': 'sign-in-title' },
    h('h1', { id: 'sign-in-title' }, 'Sign in to Kiln'),
    h('label', { for: 'token' }, 'API token'),
    token,
    h('p', { id: 'token-help', class: 'muted' },
      'A token from ', h('code', {}, 'kiln token create'), '. It is exchanged for a session cookie; ',
      'a read token can watch, submit can upload and cancel, admin can also retry.'),
    h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
    error);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    try {
      session.set(await api('/console/session', { method: 'POST', body: { token: token.value.trim() } }));
      const next = new URLSearchParams(location.search).get('next');
      navigate(next && next.startsWith('/console/') && !next.startsWith('/console/sign-in') ? next : '/console/jobs',
        { replace: true });
    } catch (err) {
      error.textContent = err.message;
      token.select();
    }
  });
  main.append(form);
  token.focus();
}
