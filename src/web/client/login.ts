// Sign-in page: POST /v1/auth/login sets the session cookie; then back to where the user was going.

import { byId } from './dom.ts';

const form = byId('login-form', HTMLFormElement);
const error = byId('login-error');
const submit = byId('login-submit', HTMLButtonElement);
const email = byId('email', HTMLInputElement);
const password = byId('password', HTMLInputElement);

function showError(message: string, field: 'email' | 'password' | 'both'): void {
  error.textContent = message;
  error.hidden = false;
  email.setAttribute('aria-invalid', String(field === 'email' || field === 'both'));
  password.setAttribute('aria-invalid', String(field === 'password' || field === 'both'));
  (field === 'email' ? email : password).focus();
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  error.hidden = true;
  if (!email.value.trim()) return showError('Enter your email address.', 'email');
  if (!password.value) return showError('Enter your password.', 'password');
  submit.disabled = true;
  submit.textContent = 'Signing in…';
  try {
    const response = await fetch('/v1/auth/login', {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ email: email.value.trim(), password: password.value }),
    });
    if (response.ok) {
      location.assign(document.body.dataset.next || '/');
      return;
    }
    if (response.status === 401) showError('The email or the password is wrong.', 'both');
    else if (response.status === 429) {
      const seconds = Number(response.headers.get('retry-after')) || 60;
      showError(`Too many failed attempts. Try again in ${Math.ceil(seconds / 60)} min.`, 'password');
    } else showError(`Signing in failed (the server answered ${response.status}). Try again.`, 'password');
  } catch {
    showError('Homewatch cannot be reached. Check the connection and try again.', 'password');
  }
  submit.disabled = false;
  submit.textContent = 'Sign in';
});
