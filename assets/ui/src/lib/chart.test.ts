import { describe, expect, it } from 'vitest'
import { linePath, linear, niceTicks, spreadIndexes } from './chart'

describe('chart arithmetic', () => {
  it('picks round ticks that cover the data', () => {
    expect(niceTicks(0, 97)).toEqual([0, 25, 50, 75, 100])
    expect(niceTicks(0, 1.3)).toEqual([0, 0.5, 1, 1.5])
    expect(niceTicks(0, 0)).toEqual([0, 1])
    expect(niceTicks(0, 1, 4, true)).toEqual([0, 1])
    expect(niceTicks(0, 3, 4, true)).toEqual([0, 1, 2, 3])
    const ticks = niceTicks(120, 120)
    expect(ticks[0]).toBeLessThanOrEqual(120)
    expect(ticks[ticks.length - 1]).toBeGreaterThanOrEqual(120)
  })

  it('maps linearly, including inverted ranges (SVG y grows down)', () => {
    const y = linear(0, 100, 200, 0)
    expect(y(0)).toBe(200)
    expect(y(50)).toBe(100)
  })

  it('breaks a line where a value is missing', () => {
    expect(linePath([{ x: 0, y: 0 }, { x: 1, y: 1 }, null, { x: 3, y: 3 }])).toBe('M0.0,0.0L1.0,1.0M3.0,3.0')
  })

  it('spreads labels evenly with both ends', () => {
    expect(spreadIndexes(3, 5)).toEqual([0, 1, 2])
    expect(spreadIndexes(30, 4)).toEqual([0, 10, 19, 29])
  })
})
