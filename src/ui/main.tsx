/** The dashboard entry: login, then the page for the current path. */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { createClient, storedToken, storeToken, toFailure, type Workspace } from './api';
import { initTheme, Layout } from './components/layout';
import { Analytics } from './pages/analytics';
import { ApiKeys } from './pages/api-keys';
import { CelPage } from './pages/cel';
import { GatewayDetail, Gateways } from './pages/gateways';
import { LogDetail, RequestLogs } from './pages/logs';
import { Login } from './pages/login';
import { McpCalls } from './pages/mcp-calls';
import { McpServers } from './pages/mcp-servers';
import { Overview } from './pages/overview';
import { ProviderDetail, Providers } from './pages/providers';
import { Workspaces } from './pages/workspaces';
import { useLocation } from './router';
import { listAllWorkspaces, SessionProvider } from './session';
import './styles.css';

function Routes() {
  const { path } = useLocation();
  const [, section, id] = path.split('/');
  switch (section) {
    case '':
    case undefined:
      return <Overview />;
    case 'analytics':
      return <Analytics />;
    case 'logs':
      return id ? <LogDetail id={decodeURIComponent(id)} /> : <RequestLogs />;
    case 'mcp-calls':
      return <McpCalls />;
    case 'workspaces':
      return <Workspaces />;
    case 'providers':
      return id ? <ProviderDetail id={decodeURIComponent(id)} /> : <Providers />;
    case 'gateways':
      return id ? <GatewayDetail id={decodeURIComponent(id)} /> : <Gateways />;
    case 'api-keys':
      return <ApiKeys />;
    case 'mcp-servers':
      return <McpServers />;
    case 'cel':
      return <CelPage />;
    default:
      return (
        <section class="page">
          <h1>Not found</h1>
          <p>There is no page at {path}.</p>
        </section>
      );
  }
}

type State = { phase: 'checking' } | { phase: 'login'; message?: string } | { phase: 'in'; token: string; workspaces: Workspace[] };

function App() {
  const [state, setState] = useState<State>(() => (storedToken() ? { phase: 'checking' } : { phase: 'login' }));

  useEffect(() => {
    const token = storedToken();
    if (state.phase !== 'checking' || !token) return;
    listAllWorkspaces(createClient(token)).then(
      (workspaces) => setState({ phase: 'in', token, workspaces }),
      (err: unknown) => {
        storeToken(undefined);
        const f = toFailure(err);
        setState({ phase: 'login', message: f.kind === 'unauthenticated' ? 'Your session token is no longer valid.' : f.message });
      },
    );
  }, [state.phase]);

  if (state.phase === 'checking') return <p class="loading">Loading…</p>;
  if (state.phase === 'login') return <Login message={state.message} onLogin={(token, workspaces) => setState({ phase: 'in', token, workspaces })} />;
  return (
    <SessionProvider token={state.token} initialWorkspaces={state.workspaces} onLogout={() => setState({ phase: 'login' })}>
      <Layout>
        <Routes />
      </Layout>
    </SessionProvider>
  );
}

initTheme();
render(<App />, document.getElementById('app')!);
