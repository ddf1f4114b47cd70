/**
 * The closed dispatch from (client schema, upstream schema) to a translator.
 * A pair that is not listed is not supported and is refused by the caller
 * with a clear error (e.g. embeddings on an Anthropic provider).
 */
import { composeTranslators, type ApiSchema, type ClientSchema, type TranslatorFactory } from '../translator.js';
import { createAnthropicMessagesToAnthropicMessages } from './anthropic-messages__anthropic-messages.js';
import { createAnthropicMessagesToOpenAIChat } from './anthropic-messages__openai-chat.js';
import { createOpenAIChatToAnthropicMessages } from './openai-chat__anthropic-messages.js';
import { createOpenAIChatToGeminiGenerate } from './openai-chat__gemini-generate.js';
import { createOpenAIChatToOpenAIChat } from './openai-chat__openai-chat.js';
import { createOpenAIEmbeddingsToGeminiEmbed } from './openai-embeddings__gemini-embed.js';
import { createOpenAIEmbeddingsToOpenAIEmbeddings } from './openai-embeddings__openai-embeddings.js';

/** Every supported pair, keyed `<client>__<upstream>` like the golden directories. */
export const TRANSLATORS: Readonly<Record<string, TranslatorFactory>> = {
  'openai-chat__openai-chat': createOpenAIChatToOpenAIChat,
  'openai-chat__anthropic-messages': createOpenAIChatToAnthropicMessages,
  'openai-chat__gemini-generate': createOpenAIChatToGeminiGenerate,
  'anthropic-messages__anthropic-messages': createAnthropicMessagesToAnthropicMessages,
  'anthropic-messages__openai-chat': createAnthropicMessagesToOpenAIChat,
  // Messages → Gemini goes through the lingua franca.
  'anthropic-messages__gemini-generate': () => composeTranslators(createAnthropicMessagesToOpenAIChat(), createOpenAIChatToGeminiGenerate()),
  'openai-embeddings__openai-embeddings': createOpenAIEmbeddingsToOpenAIEmbeddings,
  'openai-embeddings__gemini-embed': createOpenAIEmbeddingsToGeminiEmbed,
};

/** The translator factory for a pair, or undefined when the pair is unsupported. */
export function translatorFor(client: ClientSchema, upstream: ApiSchema): TranslatorFactory | undefined {
  return TRANSLATORS[`${client}__${upstream}`];
}
