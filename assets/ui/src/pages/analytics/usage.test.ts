import { describe, expect, it } from 'vitest'
import { byDay, daysBetween, lastDays } from './usage'

describe('usage series', () => {
  it('lists every day of a range', () => {
    expect(daysBetween('2026-02-27', '2026-03-02')).toEqual(['2026-02-27', '2026-02-28', '2026-03-01', '2026-03-02'])
  })

  it('fills days without calls', () => {
    const days = ['2026-01-01', '2026-01-02', '2026-01-03']
    expect(byDay(days, [{ key: '2026-01-02', requests: 4 }], (r) => r.requests)).toEqual([0, 4, 0])
    expect(byDay(days, [], (r: { key: string }) => r.key.length, null)).toEqual([null, null, null])
  })

  it('counts today in the window', () => {
    expect(lastDays(7, new Date('2026-03-10T15:00:00Z'))).toEqual({ from: '2026-03-04', to: '2026-03-10' })
  })
})
