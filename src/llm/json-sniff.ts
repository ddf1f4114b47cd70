/**
 * Reads one small object out of a large JSON text without parsing the whole
 * text: the hot path of a passthrough response only needs its `usage`.
 */

/**
 * The object value of the LAST `"<key>":` in `text`, parsed, or undefined when
 * there is none or it is not an object. In JSON a quote inside a string is
 * always escaped, so an unescaped `"usage":` can only be a key; the last one
 * of an OpenAI-shaped answer is the top-level usage (it follows `choices`).
 */
export function lastObjectValue(text: string, key: string): Record<string, unknown> | undefined {
  const needle = `"${key}":`;
  const at = text.lastIndexOf(needle);
  if (at < 0) return undefined;
  let i = at + needle.length;
  while (i < text.length && (text.charCodeAt(i) === 32 || text.charCodeAt(i) === 10 || text.charCodeAt(i) === 13 || text.charCodeAt(i) === 9)) i++;
  if (text.charCodeAt(i) !== 123 /* { */) return undefined;
  const start = i;
  let depth = 0;
  let inString = false;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123) depth++;
    else if (c === 125 /* } */ && --depth === 0) {
      try {
        const value = JSON.parse(text.slice(start, i + 1)) as unknown;
        return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}
