/**
 * The provider-neutral part of a fake completion: what the request asked
 * (read by each dialect from its own wire shape) and the deterministic reply
 * planned from it. Also the deterministic token counts and embedding vectors.
 */
import type { FakeReply, FakeUsage } from './behaviour.js';

/** How the request constrains tool use. */
export type ToolChoice = { mode: 'auto' } | { mode: 'none' } | { mode: 'required' } | { mode: 'named'; name: string };

/** What a chat request asks, in neutral terms. */
export interface Conversation {
  /** Every piece of text the request carries (system, messages, tool calls and results), for the input token count. */
  promptText: string[];
  /** Text of the final turn (a user message or a tool result). */
  lastText: string;
  /** Whether the final turn is the user speaking rather than returning tool results. */
  lastIsUser: boolean;
  /** Names of the tools offered. */
  tools: string[];
  toolChoice: ToolChoice;
  maxTokens: number | undefined;
  stop: string[];
}

/** A tool call with its arguments as the JSON text to send. */
export interface PlannedToolCall {
  id: string;
  name: string;
  arguments: string;
}

/** The reply a fake will send, before any provider shaping. */
export interface ReplyPlan {
  text: string;
  toolCalls: PlannedToolCall[];
  finish: 'stop' | 'length' | 'tool_calls' | 'stop_sequence';
  /** The stop sequence that ended the text, when `finish` is `stop_sequence`. */
  stopSequence: string | null;
  /** `reply.finishReason`, to send verbatim instead of the mapped `finish`. */
  finishOverride: string | undefined;
  /** Tokens computed from the request. */
  promptTokens: number;
  /** Tokens computed from the visible reply (text and tool calls). */
  outputTokens: number;
  /** Counts the behaviour pins, each placed verbatim in the provider's field. */
  usage: FakeUsage;
}

const ECHO_LIMIT = 200;
const TOKEN = /[\p{L}\p{N}_]+|[^\s\p{L}\p{N}_]/gu;

/** Deterministic token count: each run of letters, digits and underscores is one token, and so is every other non-space character. */
export function countTokens(text: string): number {
  return text.match(TOKEN)?.length ?? 0;
}

function truncateToTokens(text: string, max: number): string {
  let end = 0;
  let n = 0;
  for (const match of text.matchAll(TOKEN)) {
    if (n === max) break;
    end = match.index + match[0].length;
    n += 1;
  }
  return text.slice(0, end);
}

/**
 * Plans the reply: `echo: <final turn text>` (truncated), or tool calls when
 * tools are offered and the user's final message says `call <tool>` (each
 * optionally followed by a JSON object of arguments; several tools named →
 * parallel calls), or whatever `reply` overrides. Applies stop sequences and
 * the max-token limit to the text.
 */
export function planReply(conversation: Conversation, reply: FakeReply | undefined, newToolCallId: () => string): ReplyPlan {
  const toolCalls = reply?.toolCalls
    ? reply.toolCalls.map((call) => ({
        name: call.name,
        arguments: typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments ?? {}),
      }))
    : requestedToolCalls(conversation);
  let text = reply?.text ?? (toolCalls.length > 0 ? '' : `echo: ${conversation.lastText.slice(0, ECHO_LIMIT)}`.trimEnd());
  let finish: ReplyPlan['finish'] = toolCalls.length > 0 ? 'tool_calls' : 'stop';
  let stopSequence: string | null = null;
  if (toolCalls.length === 0) {
    const stop = firstStop(text, conversation.stop);
    if (stop) {
      text = text.slice(0, stop.index);
      finish = 'stop_sequence';
      stopSequence = stop.sequence;
    } else if (conversation.maxTokens !== undefined && countTokens(text) > conversation.maxTokens) {
      text = truncateToTokens(text, conversation.maxTokens);
      finish = 'length';
    }
  }
  const planned = toolCalls.map((call) => ({ id: newToolCallId(), ...call }));
  return {
    text,
    toolCalls: planned,
    finish,
    stopSequence,
    finishOverride: reply?.finishReason,
    promptTokens: Math.max(1, conversation.promptText.reduce((n, piece) => n + countTokens(piece), 0)),
    outputTokens: countTokens(text) + planned.reduce((n, call) => n + countTokens(call.name) + countTokens(call.arguments), 0),
    usage: reply?.usage ?? {},
  };
}

function firstStop(text: string, stops: string[]): { index: number; sequence: string } | undefined {
  let best: { index: number; sequence: string } | undefined;
  for (const sequence of stops) {
    const index = sequence ? text.indexOf(sequence) : -1;
    if (index >= 0 && (!best || index < best.index)) best = { index, sequence };
  }
  return best;
}

function requestedToolCalls(conversation: Conversation): { name: string; arguments: string }[] {
  const { tools, toolChoice } = conversation;
  if (tools.length === 0 || toolChoice.mode === 'none' || !conversation.lastIsUser) return [];
  const text = conversation.lastText;
  const calls: { name: string; arguments: string }[] = [];
  for (const match of text.matchAll(/\bcall\s+([A-Za-z0-9_-]+)/g)) {
    const name = match[1] ?? '';
    if (!tools.includes(name)) continue;
    calls.push({ name, arguments: jsonObjectAt(text, match.index + match[0].length) ?? '{}' });
  }
  if (toolChoice.mode === 'named') {
    const named = calls.filter((call) => call.name === toolChoice.name);
    return named.length > 0 ? named : [{ name: toolChoice.name, arguments: '{}' }];
  }
  if (calls.length === 0 && toolChoice.mode === 'required') return [{ name: tools[0] ?? '', arguments: '{}' }];
  return calls;
}

/** The JSON object starting at the first non-space character from `start`, re-serialised compactly. */
function jsonObjectAt(text: string, start: number): string | undefined {
  let i = start;
  while (i < text.length && /\s/.test(text.charAt(i))) i += 1;
  if (text.charAt(i) !== '{') return undefined;
  let depth = 0;
  let inString = false;
  for (let j = i; j < text.length; j += 1) {
    const c = text.charAt(j);
    if (inString) {
      if (c === '\\') j += 1;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') depth += 1;
    else if (c === '}') {
      depth -= 1;
      if (depth === 0) {
        try {
          const parsed: unknown = JSON.parse(text.slice(i, j + 1));
          return JSON.stringify(parsed);
        } catch {
          return undefined;
        }
      }
    }
  }
  return undefined;
}

/** Splits text into stream deltas, one word (with its leading whitespace) each. */
export function textPieces(text: string): string[] {
  const pieces: string[] = [...(text.match(/\s*\S+/g) ?? [])];
  const rest = text.slice(pieces.join('').length);
  if (rest) pieces.push(rest);
  return pieces;
}

/** Splits tool-call arguments into three (or fewer, for short strings) stream deltas. */
export function argumentPieces(args: string): string[] {
  const size = Math.max(1, Math.ceil(args.length / 3));
  const pieces: string[] = [];
  for (let i = 0; i < args.length; i += size) pieces.push(args.slice(i, i + size));
  return pieces.length > 0 ? pieces : [''];
}

/**
 * A deterministic unit-length embedding of `input`: a PRNG seeded by the
 * input's FNV-1a hash, rounded to float32 so float and base64 encodings agree.
 */
export function embeddingVector(input: string, dimensions: number): number[] {
  let seed = 0x811c9dc5;
  for (let i = 0; i < input.length; i += 1) seed = Math.imul(seed ^ input.charCodeAt(i), 0x01000193) >>> 0;
  const raw: number[] = [];
  for (let i = 0; i < dimensions; i += 1) {
    // mulberry32
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    raw.push(((t ^ (t >>> 14)) >>> 0) / 2 ** 31 - 1);
  }
  const norm = Math.hypot(...raw) || 1;
  return raw.map((x) => Math.fround(x / norm));
}

/** Little-endian float32 bytes, base64-encoded, as OpenAI's `encoding_format: "base64"`. */
export function embeddingBase64(vector: number[]): string {
  return Buffer.from(new Float32Array(vector).buffer).toString('base64');
}
