// Draws the run's ms/step as horizontal bars on a log scale, one panel per runtime, so workloads that differ by
// orders of magnitude (roofline kernels vs. tfjs with 100 variables) stay readable. run.ts screenshots the canvas.
import { type BenchReport, describeAdapterSummary, formatCount } from '../report';
import type { BenchRecord } from '../suite';

declare global {
  interface Window {
    drawBenchChart?: (report: BenchReport) => void;
  }
}

const COLORS: Record<string, string> = {
  copy: '#9e9e9e',
  sevenStreams: '#616161',
  fused: '#1e88e5',
  multi: '#43a047',
  unfused: '#fb8c00',
  tfjs: '#e53935',
  'tfjs-radam': '#3949ab',
  'tfjs-fit-adam': '#ef9a9a',
  'tfjs-fit-radam': '#9fa8da',
  js: '#8e24aa',
};

const ROW = 17;
const TOP = 86;
const LABEL_WIDTH = 170;

function label(record: BenchRecord): string {
  if (record.kind === 'multi') return `multi ×${record.tensors} (${record.dispatchesPerStep ?? '?'} disp.)`;
  if (record.kind === 'tfjs' || record.kind === 'tfjs-radam') return `${record.workload} ×${record.tensors}`;
  return record.workload;
}

function ratioText(report: BenchReport): string {
  const entries = Object.entries(report.ratios).map(
    ([key, value]) => `${key} ${value === null ? 'n/a' : value.toFixed(2)}`,
  );
  return `${report.runtime?.name ?? ''} ratios at N = ${formatCount(Math.max(...report.sizes))}: ${entries.join(', ')}`;
}

function draw(report: BenchReport): void {
  const canvas = document.getElementById('chart') as HTMLCanvasElement;
  const panels = report.runtimes;
  const byRuntime = panels.map((runtime) => report.results.filter((r) => r.runtime === runtime.name));
  const rowsPerPanel = Math.max(
    1,
    ...byRuntime.map((records) => records.length + new Set(records.map((r) => r.n)).size),
  );
  canvas.width = 1200;
  canvas.height = TOP + rowsPerPanel * ROW + 44;
  const ctx = canvas.getContext('2d')!;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);

  const times = report.results.flatMap((r) => (r.msPerStep && r.msPerStep > 0 ? [r.msPerStep] : []));
  const lo = 10 ** Math.floor(Math.log10(Math.min(...times, 1)));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...times, 10)));
  const panelWidth = canvas.width / Math.max(panels.length, 1);

  ctx.fillStyle = '#000';
  ctx.font = 'bold 16px sans-serif';
  ctx.fillText(
    `webgpu-radam: ms per optimizer step (log scale, lower is better), ${report.mode} run ${report.timestamp}`,
    12,
    22,
  );

  panels.forEach((runtime, p) => {
    const x0 = p * panelWidth + 8;
    const barLeft = x0 + LABEL_WIDTH;
    const barWidth = panelWidth - LABEL_WIDTH - 70;
    const scale = (ms: number) =>
      ((Math.log10(ms) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * barWidth;
    ctx.fillStyle = '#000';
    ctx.font = 'bold 13px sans-serif';
    ctx.fillText(runtime.name, x0, 46);
    ctx.font = '11px sans-serif';
    let adapter = describeAdapterSummary(runtime);
    while (adapter.length > 8 && ctx.measureText(adapter).width > panelWidth - 20)
      adapter = `${adapter.slice(0, -2)}…`;
    ctx.fillText(adapter, x0, 62);

    // Decade grid lines with their labels.
    ctx.strokeStyle = '#e0e0e0';
    ctx.fillStyle = '#757575';
    for (let decade = lo; decade <= hi; decade *= 10) {
      const x = barLeft + scale(decade);
      ctx.beginPath();
      ctx.moveTo(x, TOP - 8);
      ctx.lineTo(x, TOP + rowsPerPanel * ROW);
      ctx.stroke();
      ctx.fillText(`${decade >= 1 ? decade.toFixed(0) : decade} ms`, x - 10, TOP - 12);
    }

    let y = TOP;
    let currentN = -1;
    for (const record of byRuntime[p]!) {
      if (record.n !== currentN) {
        currentN = record.n;
        ctx.fillStyle = '#000';
        ctx.font = 'bold 12px sans-serif';
        ctx.fillText(`N = ${formatCount(record.n)}`, x0, y + 12);
        y += ROW;
      }
      ctx.font = '11px sans-serif';
      ctx.fillStyle = '#212121';
      ctx.fillText(label(record), x0 + 8, y + 12);
      if (record.msPerStep && record.msPerStep > 0) {
        const width = Math.max(1, scale(record.msPerStep));
        ctx.fillStyle = COLORS[record.kind] ?? '#000';
        ctx.fillRect(barLeft, y + 2, width, ROW - 5);
        ctx.fillStyle = '#212121';
        ctx.fillText(record.msPerStep.toPrecision(3), barLeft + width + 4, y + 12);
      } else {
        ctx.fillStyle = '#c62828';
        ctx.fillText('FAILED', barLeft + 4, y + 12);
      }
      y += ROW;
    }
  });

  ctx.fillStyle = '#000';
  ctx.font = '12px sans-serif';
  ctx.fillText(ratioText(report), 12, canvas.height - 14);
}

window.drawBenchChart = draw;
