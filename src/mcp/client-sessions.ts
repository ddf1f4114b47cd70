/**
 * Client sessions (`Mcp-Session-Id`) of one process. A session is bound to
 * the API key and gateway that opened it; requests presenting it with another
 * key or on another gateway are answered as if it did not exist.
 *
 * Limits: at most `maxSessionsPerKey` per key (opening one more closes that
 * key's least recently used session, so a client that never deletes its
 * sessions only hurts itself) and `maxSessions` in all (then new sessions are
 * refused). A session with no open HTTP response for `idleMs` is closed; the
 * client then gets 404 and, per the spec, starts a new one.
 */
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { McpIdentity } from './governance.js';

/** One client session. */
export interface ClientSession {
  readonly id: string;
  readonly keyId: string;
  readonly gatewayId: string;
  readonly transport: StreamableHTTPServerTransport;
  readonly server: Server;
  /** When the last request on the session ended. */
  lastSeen: number;
  /** HTTP responses of this session still open (a notification stream, a streaming POST). */
  open: number;
  /** The caller as of the session's latest request (key metadata and gateway settings can change). */
  identity: { current: McpIdentity };
}

/** Session limits. */
export interface SessionLimits {
  maxSessions: number;
  maxSessionsPerKey: number;
  idleMs: number;
}

/** The registry; `closeAll()` ends every session. */
export class ClientSessions {
  private readonly byId = new Map<string, ClientSession>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly limits: SessionLimits) {
    this.timer = setInterval(() => void this.sweep(), Math.max(250, Math.min(limits.idleMs / 2, 60_000)));
    this.timer.unref();
  }

  /** Sessions open now. */
  get size(): number {
    return this.byId.size;
  }

  get(id: string): ClientSession | undefined {
    return this.byId.get(id);
  }

  /** Open sessions on a gateway. */
  onGateway(gatewayId: string): ClientSession[] {
    return [...this.byId.values()].filter((s) => s.gatewayId === gatewayId);
  }

  /**
   * Makes room for one more session of `keyId`: at the key's cap its least
   * recently used session is closed. False when the process-wide cap is reached.
   */
  async admit(keyId: string): Promise<boolean> {
    const own = [...this.byId.values()].filter((s) => s.keyId === keyId).sort((a, b) => a.lastSeen - b.lastSeen);
    const excess = own.length - this.limits.maxSessionsPerKey + 1;
    await Promise.all(own.slice(0, Math.max(0, excess)).map((s) => this.close(s.id)));
    return this.byId.size < this.limits.maxSessions;
  }

  add(session: ClientSession): void {
    this.byId.set(session.id, session);
  }

  /** Drops a session the transport has already ended (client DELETE). */
  forget(id: string): void {
    this.byId.delete(id);
  }

  /** Ends a session: its streams close and later requests with its id get 404. */
  async close(id: string): Promise<void> {
    const session = this.byId.get(id);
    if (!session) return;
    this.byId.delete(id);
    await session.server.close().catch(() => {});
  }

  /** Closes every session and stops the idle sweep. */
  async closeAll(): Promise<void> {
    clearInterval(this.timer);
    await Promise.all([...this.byId.keys()].map((id) => this.close(id)));
  }

  private async sweep(): Promise<void> {
    const now = Date.now();
    const idle = [...this.byId.values()].filter((s) => s.open === 0 && now - s.lastSeen > this.limits.idleMs);
    await Promise.all(idle.map((s) => this.close(s.id)));
  }
}
