/**
 * The text a log search matches: the prompt (system prompt, message
 * contents, embedding inputs) and the completion (message contents, tool-call
 * arguments), joined by newlines. Images, audio and files are left out.
 */
type Json = Record<string, unknown>;

function contentText(content: unknown, out: string[]): void {
  if (typeof content === 'string') out.push(content);
  else if (Array.isArray(content)) {
    for (const part of content as Json[]) {
      if (!part || typeof part !== 'object') continue;
      if (typeof part.text === 'string') out.push(part.text);
      if (typeof part.thinking === 'string') out.push(part.thinking);
      if (part.type === 'tool_use' && part.input !== undefined) out.push(JSON.stringify(part.input));
      if (part.type === 'tool_result') contentText(part.content, out);
    }
  }
}

/** Prompt text of an OpenAI chat, Anthropic Messages or embeddings request body. */
export function promptText(body: Json): string[] {
  const out: string[] = [];
  contentText(body.system, out);
  for (const m of Array.isArray(body.messages) ? (body.messages as Json[]) : []) {
    if (!m || typeof m !== 'object') continue;
    contentText(m.content, out);
    for (const t of Array.isArray(m.tool_calls) ? (m.tool_calls as Json[]) : []) out.push(String((t.function as Json | undefined)?.arguments ?? ''));
  }
  const input = body.input;
  if (typeof input === 'string') out.push(input);
  else if (Array.isArray(input)) for (const i of input) if (typeof i === 'string') out.push(i);
  return out;
}

/** Completion text of a whole (or reassembled) OpenAI chat or Anthropic Messages response. */
export function completionText(response: Json): string[] {
  const out: string[] = [];
  for (const c of Array.isArray(response.choices) ? (response.choices as Json[]) : []) {
    const message = (c?.message ?? {}) as Json;
    contentText(message.content, out);
    if (typeof message.reasoning_content === 'string') out.push(message.reasoning_content);
    for (const t of Array.isArray(message.tool_calls) ? (message.tool_calls as Json[]) : []) {
      const fn = (t.function ?? {}) as Json;
      out.push(`${String(fn.name ?? '')} ${String(fn.arguments ?? '')}`);
    }
  }
  if (response.type === 'message') contentText(response.content, out);
  return out;
}
