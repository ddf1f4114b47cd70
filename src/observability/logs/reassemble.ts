/**
 * Streamed answers reassembled into the whole response the client would have
 * received without `stream: true`, from the SSE events as sent to the client
 * (its schema, not the upstream's): OpenAI chat chunks become one
 * `chat.completion`, Anthropic Messages events one `message`. Tool-call
 * argument deltas are concatenated, an error event ends up under `error`.
 * Events that are not JSON are ignored.
 */
import type { ClientSchema } from '../../llm/translator.js';

type Json = Record<string, unknown>;

function parse(data: string): Json | undefined {
  if (data === '[DONE]') return undefined;
  try {
    const v = JSON.parse(data) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined;
  } catch {
    return undefined;
  }
}

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

interface ChoiceAcc {
  index: number;
  role: string;
  content: string;
  reasoning: string;
  hasContent: boolean;
  toolCalls: Map<number, { id: string; type: string; name: string; arguments: string }>;
  finishReason: unknown;
  refusal: string;
}

/** OpenAI `chat.completion.chunk` events → one `chat.completion`. */
function openaiChat(events: readonly string[]): Json {
  const out: Json = { object: 'chat.completion' };
  const choices = new Map<number, ChoiceAcc>();
  for (const data of events) {
    const chunk = parse(data);
    if (!chunk) continue;
    if (chunk.error) {
      out.error = chunk.error;
      continue;
    }
    for (const k of ['id', 'created', 'model', 'system_fingerprint', 'service_tier'] as const) if (chunk[k] !== undefined && out[k] === undefined) out[k] = chunk[k];
    if (chunk.usage) out.usage = chunk.usage;
    for (const c of Array.isArray(chunk.choices) ? (chunk.choices as Json[]) : []) {
      const index = typeof c.index === 'number' ? c.index : 0;
      let acc = choices.get(index);
      if (!acc) choices.set(index, (acc = { index, role: 'assistant', content: '', reasoning: '', hasContent: false, toolCalls: new Map(), finishReason: null, refusal: '' }));
      const delta = (c.delta ?? {}) as Json;
      if (typeof delta.role === 'string') acc.role = delta.role;
      if (typeof delta.content === 'string') {
        acc.content += delta.content;
        acc.hasContent = true;
      }
      if (typeof delta.reasoning_content === 'string') acc.reasoning += delta.reasoning_content;
      if (typeof delta.refusal === 'string') acc.refusal += delta.refusal;
      for (const t of Array.isArray(delta.tool_calls) ? (delta.tool_calls as Json[]) : []) {
        const ti = typeof t.index === 'number' ? t.index : acc.toolCalls.size;
        let call = acc.toolCalls.get(ti);
        if (!call) acc.toolCalls.set(ti, (call = { id: '', type: 'function', name: '', arguments: '' }));
        const fn = (t.function ?? {}) as Json;
        if (typeof t.id === 'string') call.id = t.id;
        if (typeof t.type === 'string') call.type = t.type;
        call.name += str(fn.name);
        call.arguments += str(fn.arguments);
      }
      if (c.finish_reason !== undefined && c.finish_reason !== null) acc.finishReason = c.finish_reason;
    }
  }
  out.choices = [...choices.values()]
    .sort((a, b) => a.index - b.index)
    .map((acc) => {
      const message: Json = { role: acc.role, content: acc.hasContent || acc.toolCalls.size === 0 ? acc.content : null };
      if (acc.reasoning) message.reasoning_content = acc.reasoning;
      if (acc.refusal) message.refusal = acc.refusal;
      if (acc.toolCalls.size) {
        message.tool_calls = [...acc.toolCalls.entries()]
          .sort(([a], [b]) => a - b)
          .map(([, t]) => ({ id: t.id, type: t.type, function: { name: t.name, arguments: t.arguments } }));
      }
      return { index: acc.index, message, finish_reason: acc.finishReason };
    });
  return out;
}

/** Anthropic Messages stream events → one `message`. */
function anthropicMessages(events: readonly string[]): Json {
  let message: Json = { type: 'message', role: 'assistant', content: [] };
  const blocks: Json[] = [];
  const partialJson = new Map<number, string>();
  for (const data of events) {
    const e = parse(data);
    if (!e) continue;
    switch (e.type) {
      case 'message_start':
        message = { ...((e.message as Json) ?? {}) };
        break;
      case 'content_block_start': {
        const index = typeof e.index === 'number' ? e.index : blocks.length;
        blocks[index] = { ...((e.content_block as Json) ?? {}) };
        break;
      }
      case 'content_block_delta': {
        const index = typeof e.index === 'number' ? e.index : blocks.length - 1;
        const block = (blocks[index] ??= { type: 'text', text: '' });
        const delta = (e.delta ?? {}) as Json;
        if (delta.type === 'text_delta') block.text = str(block.text) + str(delta.text);
        else if (delta.type === 'thinking_delta') block.thinking = str(block.thinking) + str(delta.thinking);
        else if (delta.type === 'signature_delta') block.signature = str(block.signature) + str(delta.signature);
        else if (delta.type === 'input_json_delta') partialJson.set(index, (partialJson.get(index) ?? '') + str(delta.partial_json));
        break;
      }
      case 'message_delta': {
        const delta = (e.delta ?? {}) as Json;
        for (const [k, v] of Object.entries(delta)) message[k] = v;
        if (e.usage) message.usage = { ...((message.usage as Json) ?? {}), ...(e.usage as Json) };
        break;
      }
      case 'error':
        message.error = e.error;
        break;
    }
  }
  for (const [index, json] of partialJson) {
    const block = blocks[index];
    if (!block) continue;
    try {
      block.input = json ? JSON.parse(json) : {};
    } catch {
      block.input = json;
    }
  }
  message.content = blocks.filter(Boolean);
  return message;
}

/** The whole response equivalent to the captured stream events of `surface`. */
export function reassembleStream(surface: ClientSchema, events: readonly string[]): Json {
  return surface === 'anthropic-messages' ? anthropicMessages(events) : openaiChat(events);
}
