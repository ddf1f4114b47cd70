/** Types of the untyped `parse-prometheus-text-format` package, as the tests use it. */
declare module 'parse-prometheus-text-format' {
  export default function parsePrometheusTextFormat(text: string): unknown[];
}
