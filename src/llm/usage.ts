/**
 * Token usage in one normalised shape, whatever the provider reported.
 * `promptTokens` includes cached tokens and `completionTokens` includes
 * reasoning tokens, as in OpenAI's usage object.
 */
export interface Usage {
  promptTokens: number;
  completionTokens: number;
  /** Part of promptTokens read from the provider's prompt cache. */
  cachedTokens: number;
  /** Part of promptTokens written to the provider's prompt cache (Anthropic). */
  cacheWriteTokens: number;
  /** Part of completionTokens spent on reasoning. */
  reasoningTokens: number;
}

export function emptyUsage(): Usage {
  return { promptTokens: 0, completionTokens: 0, cachedTokens: 0, cacheWriteTokens: 0, reasoningTokens: 0 };
}
