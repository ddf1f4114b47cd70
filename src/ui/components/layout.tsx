/** The page frame: navigation, workspace picker, theme toggle and logout. */
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { Link, useLocation } from '../router';
import { useSession } from '../session';

const NAV: { section: string; items: [string, string][] }[] = [
  { section: 'Observe', items: [['/', 'Overview'], ['/analytics', 'Analytics'], ['/logs', 'Request logs'], ['/mcp-calls', 'MCP calls']] },
  {
    section: 'Configure',
    items: [
      ['/workspaces', 'Workspaces'],
      ['/providers', 'Providers & models'],
      ['/gateways', 'Gateways'],
      ['/api-keys', 'API keys'],
      ['/mcp-servers', 'MCP servers'],
      ['/cel', 'CEL editor'],
    ],
  },
];

type Theme = 'auto' | 'light' | 'dark';
const THEME_KEY = 'sluice.theme';

function applyTheme(theme: Theme) {
  if (theme === 'auto') delete document.documentElement.dataset['theme'];
  else document.documentElement.dataset['theme'] = theme;
}

export function ThemeToggle() {
  const [theme, setTheme] = useState<Theme>(() => (localStorage.getItem(THEME_KEY) as Theme | null) ?? 'auto');
  useEffect(() => {
    applyTheme(theme);
    localStorage.setItem(THEME_KEY, theme);
  }, [theme]);
  const next: Record<Theme, Theme> = { auto: 'light', light: 'dark', dark: 'auto' };
  return (
    <button type="button" class="ghost" onClick={() => setTheme(next[theme])} aria-label={`Theme: ${theme}. Switch to ${next[theme]}`} title="Theme">
      {theme === 'auto' ? '◐ auto' : theme === 'light' ? '☀ light' : '☾ dark'}
    </button>
  );
}

/** Sets the saved theme before the first paint. */
export function initTheme() {
  applyTheme((localStorage.getItem(THEME_KEY) as Theme | null) ?? 'auto');
}

function isActive(path: string, item: string): boolean {
  return item === '/' ? path === '/' : path === item || path.startsWith(`${item}/`);
}

export function Layout(props: { children: ComponentChildren }) {
  const session = useSession();
  const { path } = useLocation();
  return (
    <div class="shell">
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <Link to="/" class="brand">
          Sluice
        </Link>
        <div class="topbar-right">
          <label class="ws-picker">
            <span>Workspace</span>
            <select value={session.workspace?.id} onChange={(e) => session.selectWorkspace((e.target as HTMLSelectElement).value)} disabled={session.workspaces.length < 2}>
              {session.workspaces.map((w) => (
                <option key={w.id} value={w.id}>
                  {w.displayName || w.name}
                </option>
              ))}
            </select>
          </label>
          <span class="who">{session.isRoot ? 'root admin' : 'workspace admin'}</span>
          <ThemeToggle />
          <button type="button" class="ghost" onClick={session.logout}>
            Log out
          </button>
        </div>
      </header>
      <nav class="sidebar" aria-label="Main">
        {NAV.map((group) => (
          <div key={group.section}>
            <h2>{group.section}</h2>
            <ul>
              {group.items.map(([to, label]) => (
                <li key={to}>
                  <Link to={to} aria-current={isActive(path, to) ? 'page' : undefined}>
                    {label}
                  </Link>
                </li>
              ))}
            </ul>
          </div>
        ))}
      </nav>
      <main id="main" tabIndex={-1}>
        {session.workspace || path === '/workspaces' ? props.children : <NoWorkspace />}
      </main>
    </div>
  );
}

function NoWorkspace() {
  return (
    <section class="page">
      <h1>No workspace yet</h1>
      <p>
        Create one under <Link to="/workspaces">Workspaces</Link> to configure providers and gateways.
      </p>
    </section>
  );
}
