/** The five training runs, in display order (kept free of GPU imports so the e2e test can use it in Node). */
export const RUNS = [
  { id: 'radam', label: 'RAdam', color: '#e4572e' },
  { id: 'adam', label: 'Adam, no warmup', color: '#4c8bf5' },
  { id: 'adam-warmup', label: 'Adam + linear warmup', color: '#2bb673' },
  { id: 'sgd', label: 'SGD, momentum 0.9', color: '#b07cf0' },
  { id: 'ranger', label: 'Ranger (RAdam + Lookahead)', color: '#e8a33d' },
] as const;
export type RunId = (typeof RUNS)[number]['id'];

export interface HistoryPoint {
  loss: number;
  accuracy: number;
}
