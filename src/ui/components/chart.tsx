/**
 * Charts drawn with uPlot (canvas; fast with thousands of points). Colours
 * come from CSS variables so charts follow the light or dark theme; charts
 * resize with their container.
 */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface Series {
  label: string;
  values: (number | null)[];
  /** CSS variable holding the colour, e.g. `--chart-1`. */
  color: string;
  format?: (v: number) => string;
}

function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';
}

function build(el: HTMLElement, x: number[], series: Series[], kind: 'line' | 'bars', xIsTime: boolean, xFormat?: (v: number) => string): uPlot {
  const axisColor = cssVar('--muted');
  const grid = cssVar('--border');
  const opts: uPlot.Options = {
    width: Math.max(el.clientWidth, 200),
    height: 200,
    scales: { x: { time: xIsTime } },
    legend: { show: true },
    cursor: { drag: { x: false, y: false } },
    axes: [
      { stroke: axisColor, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, ...(xFormat ? { values: (_u, vals) => vals.map((v) => xFormat(v)) } : {}) },
      {
        stroke: axisColor,
        grid: { stroke: grid, width: 1 },
        ticks: { stroke: grid },
        size: 84,
        ...(series[0]?.format ? { values: (_u: uPlot, vals: number[]) => vals.map((v) => series[0]!.format!(v)) } : {}),
      },
    ],
    series: [
      { label: xIsTime ? 'time' : 'ms' },
      ...series.map((s) => ({
        label: s.label,
        stroke: cssVar(s.color),
        fill: kind === 'bars' ? cssVar(s.color) : `${cssVar(s.color)}22`,
        width: 2,
        // Isolated values (one busy minute in an idle hour) would be invisible as a line.
        points: {
          show: s.values.filter((v) => v !== null && v !== 0).length < 4,
          size: 6,
          filter: () => s.values.flatMap((v, i) => (v ? [i] : [])),
        },
        value: s.format ? (_u: uPlot, v: number | null) => (v === null ? '–' : s.format!(v)) : undefined,
        ...(kind === 'bars' ? { paths: uPlot.paths.bars!({ size: [0.9, 64] }), points: { show: false } } : {}),
      })),
    ],
  };
  return new uPlot(opts, [x, ...series.map((s) => s.values)] as uPlot.AlignedData, el);
}

/** A chart of `series` over `x` (Unix seconds for time series, or bucket starts for a histogram). */
export function Chart(props: { label: string; x: number[]; series: Series[]; kind?: 'line' | 'bars'; xIsTime?: boolean; xFormat?: (v: number) => string }) {
  const ref = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  const kind = props.kind ?? 'line';
  const xIsTime = props.xIsTime ?? true;

  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    plot.current?.destroy();
    plot.current = build(el, props.x, props.series, kind, xIsTime, props.xFormat);
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(el.clientWidth, 200), height: 200 }));
    resize.observe(el);
    const scheme = window.matchMedia('(prefers-color-scheme: dark)');
    const theme = new MutationObserver(() => {
      plot.current?.destroy();
      plot.current = build(el, props.x, props.series, kind, xIsTime, props.xFormat);
    });
    theme.observe(document.documentElement, { attributes: true, attributeFilter: ['data-theme'] });
    const onScheme = () => {
      plot.current?.destroy();
      plot.current = build(el, props.x, props.series, kind, xIsTime, props.xFormat);
    };
    scheme.addEventListener('change', onScheme);
    return () => {
      resize.disconnect();
      theme.disconnect();
      scheme.removeEventListener('change', onScheme);
      plot.current?.destroy();
      plot.current = undefined;
    };
  }, [props.x, props.series, kind, xIsTime]);

  return <figure class="chart" aria-label={props.label} role="img" ref={ref} />;
}
