/** At most about `count` round tick values (1, 2 or 5 × a power of ten apart) covering [min, max]:
 * `$0.005, $0.01, $0.015` rather than Recharts' `0.0035, 0.007, 0.0105`. */
export function niceTicks(min: number, max: number, count = 4): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
  if (max <= min) return [min, min + 1];
  const rough = (max - min) / count;
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) ?? 10 * power;
  const first = Math.floor(min / step) * step;
  const ticks: number[] = [];
  // Rounded to the step's precision so 0.1 + 0.2 does not print as 0.30000000000000004.
  const digits = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  for (let t = first; t < max + step; t += step) {
    ticks.push(Number(t.toFixed(digits)));
    if (t >= max) break;
  }
  return ticks;
}
