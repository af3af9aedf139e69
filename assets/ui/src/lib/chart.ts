// The arithmetic behind the SVG charts (components/charts). Charts are hand-rolled: the UI needs
// a line chart over time and grouped bars, with the theme's colours and keyboard access, and a
// charting library would add 60-200 KB gzipped for that.

/** Round tick values covering [min, max], about `count` of them; whole numbers for counts. */
export function niceTicks(min: number, max: number, count = 4, integer = false): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return [0, 1]
  if (min === max) {
    if (min === 0) return [0, 1]
    const pad = Math.abs(min) * 0.5
    return niceTicks(min - pad, max + pad, count, integer)
  }
  const span = max - min
  const raw = Math.max(span / Math.max(1, count), integer ? 1 : 0)
  const magnitude = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude
  const start = Math.floor(min / step) * step
  const end = Math.ceil(max / step) * step
  const ticks: number[] = []
  for (let value = start; value <= end + step / 2; value += step) ticks.push(Number(value.toPrecision(12)))
  return ticks
}

/** A linear map from [d0, d1] to [r0, r1]. */
export function linear(d0: number, d1: number, r0: number, r1: number): (value: number) => number {
  const span = d1 - d0 || 1
  return (value) => r0 + ((value - d0) / span) * (r1 - r0)
}

/** An SVG path through the points, broken where a value is missing. */
export function linePath(points: readonly ({ x: number; y: number } | null)[]): string {
  let path = ''
  let pen = false
  for (const point of points) {
    if (!point) {
      pen = false
      continue
    }
    path += `${pen ? 'L' : 'M'}${point.x.toFixed(1)},${point.y.toFixed(1)}`
    pen = true
  }
  return path
}

/** At most `max` evenly spread indexes of `length` items, always with the first and last. */
export function spreadIndexes(length: number, max: number): number[] {
  if (length <= max) return Array.from({ length }, (_, i) => i)
  const step = (length - 1) / (max - 1)
  return Array.from({ length: max }, (_, i) => Math.round(i * step))
}
