/**
 * The built-in `mock` provider: a deterministic OpenAI-shaped upstream that
 * runs in-process, for demos, offline use and load tests. Its latency before
 * the first byte and its completion length come from the provider settings;
 * the same request always gets the same answer.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { RuntimeProvider } from '../../config/snapshot.js';
import type { UpstreamCall } from '../translator.js';
import { bodyFrom, type UpstreamResponse } from '../upstream-client.js';

const FILLER = 'the quick brown fox jumps over the lazy dog while the gateway counts every token'.split(' ');

interface ChatMessage {
  role?: string;
  content?: unknown;
}

function textOf(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p) => (p && typeof p === 'object' && 'text' in p ? String((p as { text: unknown }).text) : '')).join(' ');
  return '';
}

/** A rough, deterministic token count (≈ 4 characters per token). */
function countTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

function json(status: number, body: unknown): UpstreamResponse {
  return { status, headers: { 'content-type': 'application/json' }, body: bodyFrom([JSON.stringify(body)]) };
}

/** Answers one call the way an OpenAI-compatible server would. */
export async function callMock(provider: RuntimeProvider, call: UpstreamCall, signal: AbortSignal): Promise<UpstreamResponse> {
  const body = call.body;
  const model = String(body.model ?? '');
  if (provider.mock.latencyMs > 0) await sleep(provider.mock.latencyMs, undefined, { signal });
  if (call.path === '/embeddings') return embeddings(body, model);
  if (call.path !== '/chat/completions') return json(404, { error: { message: `mock provider has no ${call.path}`, type: 'invalid_request_error', param: null, code: 'not_found' } });

  const messages = (Array.isArray(body.messages) ? body.messages : []) as ChatMessage[];
  const prompt = messages.map((m) => textOf(m.content)).join('\n');
  const lastUser = [...messages].reverse().find((m) => m.role === 'user');
  const maxTokens = Number(body.max_completion_tokens ?? body.max_tokens ?? Infinity);
  const wanted = provider.mock.completionTokens;
  const count = Math.max(1, Math.min(wanted, maxTokens));
  const seed = textOf(lastUser?.content).split(/\s+/).filter(Boolean).slice(0, 8);
  const words = ['mock', 'reply:', ...seed, ...FILLER];
  const tokens = Array.from({ length: count }, (_, i) => words[i % words.length]!);
  const finishReason = count < wanted ? 'length' : 'stop';
  const usage = { prompt_tokens: countTokens(prompt), completion_tokens: count, total_tokens: countTokens(prompt) + count };
  const id = `chatcmpl-mock-${usage.prompt_tokens}-${count}`;
  const created = Math.floor(Date.now() / 1000);

  if (!body.stream) {
    return json(200, {
      id,
      object: 'chat.completion',
      created,
      model,
      choices: [{ index: 0, message: { role: 'assistant', content: tokens.join(' '), refusal: null }, logprobs: null, finish_reason: finishReason }],
      usage,
    });
  }
  const includeUsage = Boolean((body.stream_options as { include_usage?: boolean } | undefined)?.include_usage);
  const chunk = (delta: Record<string, unknown>, finish: string | null) =>
    `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`;
  function* events(): Generator<string> {
    yield chunk({ role: 'assistant', content: '' }, null);
    for (let i = 0; i < tokens.length; i++) yield chunk({ content: (i === 0 ? '' : ' ') + tokens[i] }, null);
    yield chunk({}, finishReason);
    if (includeUsage) yield `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [], usage })}\n\n`;
    yield 'data: [DONE]\n\n';
  }
  return { status: 200, headers: { 'content-type': 'text/event-stream' }, body: bodyFrom(events()) };
}

function embeddings(body: Record<string, unknown>, model: string): UpstreamResponse {
  const inputs = Array.isArray(body.input) ? body.input.map(String) : [String(body.input ?? '')];
  const dims = Number(body.dimensions ?? 8);
  const data = inputs.map((text, index) => {
    const vector = Array.from({ length: dims }, (_, d) => {
      let h = 2166136261 ^ d;
      for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
      return ((h >>> 0) / 0xffffffff) * 2 - 1;
    });
    return { object: 'embedding', index, embedding: vector };
  });
  const tokens = inputs.reduce((n, t) => n + countTokens(t), 0);
  return json(200, { object: 'list', data, model, usage: { prompt_tokens: tokens, total_tokens: tokens } });
}
