/**
 * How to reach and authenticate each provider type, and which upstream API
 * schema it speaks for each client API. Translation itself lives in
 * `../translators`; this module only builds URLs and headers.
 */
import type { ProviderKind, RuntimeCredential, RuntimeProvider } from '../../config/snapshot.js';
import type { ApiSchema, ClientSchema, UpstreamCall } from '../translator.js';

export interface ProviderDescriptor {
  /** The upstream schema used for a client schema; undefined when the provider cannot serve it. */
  upstreamSchema(client: ClientSchema): ApiSchema | undefined;
  /** The full URL of a call. */
  url(provider: RuntimeProvider, call: UpstreamCall): string;
  /** Authentication and version headers for one credential. */
  headers(provider: RuntimeProvider, credential: RuntimeCredential | undefined): Record<string, string>;
}

const OPENAI_SHAPED: Record<ClientSchema, ApiSchema> = {
  'openai-chat': 'openai-chat',
  'anthropic-messages': 'openai-chat',
  'openai-embeddings': 'openai-embeddings',
};

function join(base: string, path: string): string {
  return base.replace(/\/+$/, '') + path;
}

/** `{ [name]: secret }`, or nothing when there is no secret. */
function keyHeader(name: string, credential: RuntimeCredential | undefined, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  if (credential?.secret) out[name] = prefix + credential.secret;
  return out;
}

const openai: ProviderDescriptor = {
  upstreamSchema: (client) => OPENAI_SHAPED[client],
  url: (p, call) => join(p.baseUrl || 'https://api.openai.com/v1', call.path),
  headers: (_p, c) => keyHeader('authorization', c, 'Bearer '),
};

const DESCRIPTORS: Record<ProviderKind, ProviderDescriptor> = {
  openai,
  openai_compatible: { ...openai, url: (p, call) => join(p.baseUrl, call.path) },
  mock: openai,
  // https://learn.microsoft.com/azure/ai-services/openai/reference: the deployment is in the path, the key in `api-key`.
  azure_openai: {
    upstreamSchema: (client) => OPENAI_SHAPED[client],
    url: (p, call) => `${join(p.baseUrl, `/openai/deployments/${encodeURIComponent(String(call.body.model ?? ''))}${call.path}`)}?api-version=${encodeURIComponent(p.azureApiVersion)}`,
    headers: (_p, c) => keyHeader('api-key', c),
  },
  // https://docs.anthropic.com/en/api/versioning
  anthropic: {
    upstreamSchema: (client) => (client === 'openai-embeddings' ? undefined : 'anthropic-messages'),
    url: (p, call) => join(p.baseUrl || 'https://api.anthropic.com/v1', call.path),
    headers: (_p, c) => ({ 'anthropic-version': '2023-06-01', ...keyHeader('x-api-key', c) }),
  },
  // https://ai.google.dev/api/generate-content
  google: {
    upstreamSchema: (client) => (client === 'openai-embeddings' ? 'gemini-embed' : 'gemini-generate'),
    url: (p, call) => join(p.baseUrl || 'https://generativelanguage.googleapis.com/v1beta', call.path),
    headers: (_p, c) => keyHeader('x-goog-api-key', c),
  },
};

/** The descriptor of a provider type. */
export function descriptorFor(kind: ProviderKind): ProviderDescriptor {
  return DESCRIPTORS[kind];
}
