/** A small per-minute bar chart in SVG: succeeded stacked under failed (failed_permanent) and cancelled. */
import { count } from '../format.ts';

export interface Series {
  succeeded: number[];
  failed: number[];
  cancelled: number[];
}

const W = 150;
const H = 30;

export function ThroughputChart({ series, minutes, label }: { series: Series | undefined; minutes: number; label: string }) {
  const n = minutes;
  const at = (a: number[] | undefined, i: number) => a?.[i] ?? 0;
  const totals = { succeeded: 0, failed: 0, cancelled: 0 };
  let max = 0;
  for (let i = 0; i < n; i++) {
    const s = at(series?.succeeded, i);
    const f = at(series?.failed, i);
    const c = at(series?.cancelled, i);
    totals.succeeded += s;
    totals.failed += f;
    totals.cancelled += c;
    max = Math.max(max, s + f + c);
  }
  const text = `${label}: ${count(totals.succeeded)} succeeded, ${count(totals.failed)} failed, ${count(totals.cancelled)} cancelled in the last ${n} minutes`;
  const bw = W / n;
  const y = (v: number) => (max === 0 ? 0 : (v / max) * (H - 2));
  const bars = [];
  for (let i = 0; i < n; i++) {
    const s = y(at(series?.succeeded, i));
    const f = y(at(series?.failed, i));
    const c = y(at(series?.cancelled, i));
    const x = i * bw + 0.5;
    const w = Math.max(1, bw - 1);
    if (s > 0) bars.push(<rect class="bar-ok" x={x} y={H - s} width={w} height={s} />);
    if (f > 0) bars.push(<rect class="bar-fail" x={x} y={H - s - f} width={w} height={f} />);
    if (c > 0) bars.push(<rect class="bar-cancel" x={x} y={H - s - f - c} width={w} height={c} />);
  }
  return (
    <svg class="chart" viewBox={`0 0 ${W} ${H}`} width={W} height={H} role="img" aria-label={text}>
      <title>{text}</title>
      <line class="axis" x1="0" y1={H - 0.5} x2={W} y2={H - 0.5} />
      {bars}
    </svg>
  );
}
