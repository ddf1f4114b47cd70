/**
 * The logged-in session: the token, its client, the workspaces the token can
 * see (a workspace token sees only its own) and the one being viewed.
 */
import type { ComponentChildren } from 'preact';
import { createContext } from 'preact';
import { useCallback, useContext, useEffect, useMemo, useState } from 'preact/hooks';
import { createClient, isWorkspaceToken, storeToken, type Client, type Workspace } from './api';

export interface Session {
  token: string;
  client: Client;
  /** Whether the token is the root admin token (it can create and delete workspaces). */
  isRoot: boolean;
  workspaces: Workspace[];
  workspace: Workspace | undefined;
  selectWorkspace(id: string): void;
  reloadWorkspaces(): Promise<void>;
  logout(): void;
}

const SessionContext = createContext<Session | undefined>(undefined);
const WORKSPACE_KEY = 'sluice.workspace';

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside a session');
  return s;
}

/** Lists every workspace the token sees, following page tokens. */
export async function listAllWorkspaces(client: Client): Promise<Workspace[]> {
  const all: Workspace[] = [];
  let pageToken = '';
  do {
    const page = await client.workspace.listWorkspaces.query({ pageSize: 1000, pageToken });
    all.push(...(page.workspaces ?? []));
    pageToken = page.nextPageToken ?? '';
  } while (pageToken);
  return all;
}

export function SessionProvider(props: { token: string; initialWorkspaces: Workspace[]; onLogout: () => void; children: ComponentChildren }) {
  const client = useMemo(() => createClient(props.token), [props.token]);
  const [workspaces, setWorkspaces] = useState(props.initialWorkspaces);
  const [selected, setSelected] = useState(() => sessionStorage.getItem(WORKSPACE_KEY) ?? '');
  const workspace = workspaces.find((w) => w.id === selected) ?? workspaces[0];

  const selectWorkspace = useCallback((id: string) => {
    sessionStorage.setItem(WORKSPACE_KEY, id);
    setSelected(id);
  }, []);
  const reloadWorkspaces = useCallback(async () => setWorkspaces(await listAllWorkspaces(client)), [client]);
  useEffect(() => {
    if (workspace && workspace.id !== selected) sessionStorage.setItem(WORKSPACE_KEY, workspace.id ?? '');
  }, [workspace, selected]);

  const session: Session = {
    token: props.token,
    client,
    isRoot: !isWorkspaceToken(props.token),
    workspaces,
    workspace,
    selectWorkspace,
    reloadWorkspaces,
    logout: () => {
      storeToken(undefined);
      sessionStorage.removeItem(WORKSPACE_KEY);
      props.onLogout();
    },
  };
  return <SessionContext.Provider value={session}>{props.children}</SessionContext.Provider>;
}
