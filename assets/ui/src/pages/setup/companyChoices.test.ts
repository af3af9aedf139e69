import { describe, expect, it } from 'vitest'
import { companyChoices, NEW_COMPANY } from './companyChoices'

describe('companyChoices', () => {
  it('offers nothing to choose when no company exists', () => {
    expect(companyChoices([])).toEqual([])
  })

  it('offers the sample companies first, then a new company', () => {
    const choices = companyChoices([
      { name: 'Acme Manufacturing', sample: true, kpis: 12 },
      { name: 'Globex Retail', sample: true, kpis: 12 },
      { name: 'Old Co', sample: false, kpis: 1 },
    ])
    expect(choices.map((c) => c.value)).toEqual(['Acme Manufacturing', 'Globex Retail', 'Old Co', NEW_COMPANY])
    expect(choices[0]).toMatchObject({ label: 'Join Acme Manufacturing', badge: 'Sample data' })
    expect(choices[0]?.description).toBe('12 KPIs with two years of history. The KPI page and the analyst agent have data at once.')
    expect(choices[1]?.description).toBe('12 KPIs with two years of history.')
    expect(choices[2]).toMatchObject({ badge: undefined, description: 'An existing company with 1 KPI.' })
    expect(choices[3]?.label).toBe('Start a new company')
  })
})
