import { describe, expect, it } from 'vitest'
import { kpiEmptyState } from './emptyState'

const SAMPLES = ['Acme Manufacturing', 'Globex Retail', 'Initech Software']

describe('kpiEmptyState', () => {
  it('points a department without KPIs to the others', () => {
    const state = kpiEmptyState({ company: 'Acme', kpis: 3, sample_companies: [] }, 'Sales', true)
    expect(state.title).toBe('No KPIs in this department')
    expect(state.description).toContain('Sales has no KPIs')
  })

  it('says where the sample data is when the company has none', () => {
    const admin = kpiEmptyState({ company: 'Zeta Labs', kpis: 0, sample_companies: SAMPLES }, '', true)
    expect(admin.title).toBe('No KPIs in Zeta Labs yet')
    expect(admin.description).toContain('sample data in Acme Manufacturing, Globex Retail and Initech Software')
    expect(admin.description).not.toContain('--sample-data')
    expect(admin.description).toContain('stop agentbox, create one with the command below')
    expect(admin.command).toBe('agentbox user create --email you+demo@example.com --password-stdin --company "Acme Manufacturing"')
    const member = kpiEmptyState({ company: 'Zeta Labs', kpis: 0, sample_companies: SAMPLES }, '', false)
    expect(member.description).toContain('ask an admin for an account in Acme Manufacturing')
    expect(member.command).toBeUndefined()
  })

  it('suggests --sample-data only where it was not used', () => {
    const state = kpiEmptyState({ company: 'My Company', kpis: 0, sample_companies: [] }, '', true)
    expect(state.title).toBe('No KPIs yet')
    expect(state.description).toContain('My Company has no KPIs yet')
    expect(state.command).toBe('agentbox serve --sample-data')
    expect(kpiEmptyState({ company: 'My Company', kpis: 0, sample_companies: [] }, '', false).command).toBeUndefined()
  })

  it('covers an account without a company and a missing overview', () => {
    expect(kpiEmptyState({ company: null, kpis: 0, sample_companies: SAMPLES }, '', false).title).toBe(
      'Your account belongs to no company',
    )
    expect(kpiEmptyState(null, '', false).title).toBe('No KPIs to show')
  })
})
