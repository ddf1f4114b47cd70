/** Log in with the root admin token or a workspace token; the token stays in this tab's sessionStorage. */
import { useState } from 'preact/hooks';
import { createClient, storeToken, toFailure, type Workspace } from '../api';
import { ThemeToggle } from '../components/layout';
import { listAllWorkspaces } from '../session';

export function Login(props: { onLogin: (token: string, workspaces: Workspace[]) => void; message?: string }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState(props.message ?? '');
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    const value = token.trim();
    if (!value) return setError('Enter a token.');
    setBusy(true);
    setError('');
    try {
      const workspaces = await listAllWorkspaces(createClient(value));
      storeToken(value);
      props.onLogin(value, workspaces);
    } catch (err) {
      const f = toFailure(err);
      setError(f.kind === 'unauthenticated' ? 'This token is not valid (or was revoked).' : f.message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <main class="login" id="main">
      <div class="login-theme">
        <ThemeToggle />
      </div>
      <form class="card login-card" onSubmit={submit} aria-labelledby="login-title" noValidate>
        <h1 id="login-title">Sluice</h1>
        <p class="muted">Log in with the root admin token (printed at first start, also in <code>data/admin-token</code>) or a workspace token.</p>
        <div class={`field${error ? ' invalid' : ''}`}>
          <label for="token">Admin token</label>
          <input
            id="token"
            type="password"
            autocomplete="current-password"
            value={token}
            onInput={(e) => setToken((e.target as HTMLInputElement).value)}
            aria-invalid={Boolean(error)}
            aria-describedby={error ? 'token-error' : undefined}
            autoFocus
          />
          {error ? (
            <small id="token-error" class="error" role="alert">
              {error}
            </small>
          ) : null}
        </div>
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Checking…' : 'Log in'}
        </button>
      </form>
    </main>
  );
}
