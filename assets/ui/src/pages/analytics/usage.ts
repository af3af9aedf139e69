// Turns the usage report's day rows into a continuous series: days without calls are zero, so
// a quiet day shows as a dip instead of being skipped.
export interface DayValue {
  key?: string | null
}

/** Every UTC day from `from` to `to`, both included, as YYYY-MM-DD. */
export function daysBetween(from: string, to: string): string[] {
  const days: string[] = []
  const end = new Date(`${to}T00:00:00Z`).getTime()
  for (let t = new Date(`${from}T00:00:00Z`).getTime(); t <= end; t += 86_400_000) {
    days.push(new Date(t).toISOString().slice(0, 10))
  }
  return days
}

/** The value of each day in `days`: the row's value where one exists, else `fill`. */
export function byDay<Row extends DayValue>(
  days: readonly string[],
  rows: readonly Row[],
  value: (row: Row) => number | null | undefined,
  fill: number | null = 0,
): (number | null)[] {
  const map = new Map(rows.map((row) => [row.key ?? '', row]))
  return days.map((day) => {
    const row = map.get(day)
    return row ? (value(row) ?? fill) : fill
  })
}

/** `to` and `from` (YYYY-MM-DD, UTC) of the last `days` days including today. */
export function lastDays(days: number, today: Date = new Date()): { from: string; to: string } {
  const to = today.toISOString().slice(0, 10)
  const from = new Date(today.getTime() - (days - 1) * 86_400_000).toISOString().slice(0, 10)
  return { from, to }
}
