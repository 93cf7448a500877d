/** Minimal canvas-2D line charts; enough for loss curves and the lr sweep, with no chart library. */

export interface Series {
  label: string;
  color: string;
  /** [x, y] points; a non-finite y breaks the line and is marked as diverged. */
  points: ReadonlyArray<readonly [number, number]>;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  xLog?: boolean;
  yLog?: boolean;
  xRange?: readonly [number, number];
  yRange?: readonly [number, number];
  /** Draw markers on the points (the sweep has few, the curves have many). */
  markers?: boolean;
  xTicks?: readonly number[];
}

const PAD = { left: 46, right: 12, top: 26, bottom: 30 };

function formatTick(value: number): string {
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 1000 || abs < 0.01) return value.toExponential(0).replace('e+', 'e');
  return String(Number(value.toPrecision(2)));
}

function niceTicks(lo: number, hi: number, log: boolean): number[] {
  if (log) {
    const ticks: number[] = [];
    for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
      const v = 10 ** e;
      if (v >= lo * 0.999 && v <= hi * 1.001) ticks.push(v);
    }
    return ticks;
  }
  const span = hi - lo || 1;
  const raw = span / 5;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-6; v += step) ticks.push(v);
  return ticks;
}

/** Sizes the backing store to the element's CSS size times the device pixel ratio. */
function prepare(canvas: HTMLCanvasElement): CanvasRenderingContext2D {
  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
  const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const context = canvas.getContext('2d');
  if (!context) throw new Error('canvas 2d context unavailable');
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  return context;
}

export function drawChart(canvas: HTMLCanvasElement, series: readonly Series[], options: ChartOptions): void {
  const context = prepare(canvas);
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  context.clearRect(0, 0, width, height);

  const finite = series.flatMap((s) =>
    s.points.filter(([x, y]) => Number.isFinite(y) && (!options.yLog || y > 0) && Number.isFinite(x)),
  );
  const xs = series.flatMap((s) => s.points.map(([x]) => x));
  const [x0, x1] = options.xRange ?? [Math.min(...xs, 0), Math.max(...xs, 1)];
  let [y0, y1] = options.yRange ?? [
    Math.min(...finite.map(([, y]) => y), options.yLog ? 1 : 0),
    Math.max(...finite.map(([, y]) => y), options.yLog ? 1 : 1),
  ];
  if (options.yLog) {
    y0 = Math.max(y0, 1e-4);
    if (y1 <= y0) y1 = y0 * 10;
  } else if (y1 <= y0) {
    y1 = y0 + 1;
  }
  const tx = (x: number) => (options.xLog ? Math.log10(Math.max(x, 1e-30)) : x);
  const ty = (y: number) => (options.yLog ? Math.log10(Math.max(y, 1e-30)) : y);
  const plotW = width - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const px = (x: number) => PAD.left + ((tx(x) - tx(x0)) / (tx(x1) - tx(x0) || 1)) * plotW;
  const py = (y: number) => {
    const clamped = Math.min(Math.max(ty(y), ty(y0)), ty(y1));
    return PAD.top + plotH - ((clamped - ty(y0)) / (ty(y1) - ty(y0) || 1)) * plotH;
  };

  context.font = '11px system-ui, sans-serif';
  context.fillStyle = '#d8dbe2';
  context.textBaseline = 'alphabetic';
  context.textAlign = 'left';
  context.font = '600 12px system-ui, sans-serif';
  context.fillText(options.title, PAD.left, 16);
  context.font = '11px system-ui, sans-serif';

  context.strokeStyle = '#2c3140';
  context.lineWidth = 1;
  context.fillStyle = '#8d93a3';
  context.textAlign = 'right';
  context.textBaseline = 'middle';
  for (const v of niceTicks(y0, y1, options.yLog ?? false)) {
    const y = Math.round(py(v)) + 0.5;
    context.beginPath();
    context.moveTo(PAD.left, y);
    context.lineTo(width - PAD.right, y);
    context.stroke();
    context.fillText(formatTick(v), PAD.left - 5, y);
  }
  context.textAlign = 'center';
  context.textBaseline = 'top';
  for (const v of options.xTicks ?? niceTicks(x0, x1, options.xLog ?? false)) {
    const x = Math.round(px(v)) + 0.5;
    context.beginPath();
    context.moveTo(x, PAD.top);
    context.lineTo(x, PAD.top + plotH);
    context.stroke();
    context.fillText(formatTick(v), x, PAD.top + plotH + 4);
  }
  context.textAlign = 'right';
  context.fillText(options.xLabel, width - PAD.right, height - 12);

  context.save();
  context.beginPath();
  context.rect(PAD.left, PAD.top - 4, plotW, plotH + 8);
  context.clip();
  for (const s of series) {
    context.strokeStyle = s.color;
    context.fillStyle = s.color;
    context.lineWidth = 1.75;
    context.beginPath();
    let drawing = false;
    for (const [x, y] of s.points) {
      if (!Number.isFinite(y)) {
        drawing = false;
        continue;
      }
      if (drawing) context.lineTo(px(x), py(y));
      else context.moveTo(px(x), py(y));
      drawing = true;
    }
    context.stroke();
    if (options.markers) {
      for (const [x, y] of s.points) {
        if (Number.isFinite(y)) {
          context.beginPath();
          context.arc(px(x), py(y), 3.2, 0, 2 * Math.PI);
          context.fill();
        } else {
          // Diverged (NaN/inf): a cross pinned to the top edge.
          const cx = px(x);
          const cy = PAD.top + 2;
          context.lineWidth = 2;
          context.beginPath();
          context.moveTo(cx - 4, cy - 4);
          context.lineTo(cx + 4, cy + 4);
          context.moveTo(cx + 4, cy - 4);
          context.lineTo(cx - 4, cy + 4);
          context.stroke();
        }
      }
    }
  }
  context.restore();
}
