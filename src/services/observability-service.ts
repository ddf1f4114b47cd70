/**
 * LogService is declared in the API now so clients are generated against
 * its final shape; the log pipeline that answers it is built with the
 * observability plane. Until then every method answers `unimplemented` after
 * the usual access checks. (MetricsService lives in metrics-service.ts.)
 */
import { SluiceError } from '../errors.js';
import type { LogService } from '../gen/sluice/v1/log_pb.js';
import { resolveWorkspaceId } from './context.js';
import type { DomainService } from './service-kit.js';
import type { ServiceDeps } from './store.js';

function unavailable(method: string): never {
  throw new SluiceError('unimplemented', `${method} is served once the observability plane is enabled`);
}

export function createLogService(_deps: ServiceDeps): DomainService<typeof LogService> {
  return {
    async listRequestLogs(req, call) {
      resolveWorkspaceId(call, req.workspaceId, 'workspace_id');
      return unavailable('ListRequestLogs');
    },
    async getRequestLog(req) {
      if (!req.id) throw SluiceError.invalid([{ field: 'id', description: 'required', reason: 'REQUIRED' }]);
      return unavailable('GetRequestLog');
    },
    async listMcpCallLogs(req, call) {
      resolveWorkspaceId(call, req.workspaceId, 'workspace_id');
      return unavailable('ListMcpCallLogs');
    },
  };
}
