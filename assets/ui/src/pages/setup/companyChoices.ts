import type { Choice } from '@/components/ui/types'
import type { Schemas } from '@/api/client'

/** The choice value of "start a new company" (company names are never empty). */
export const NEW_COMPANY = ''

/**
 * The setup page's company options: each existing company (the sample data's, first the one a
 * first admin joins by default), then a new company. None when no company exists yet.
 */
export function companyChoices(companies: readonly Schemas['SetupCompany'][]): Choice<string>[] {
  if (!companies.length) return []
  return [
    ...companies.map((company, index) => ({
      value: company.name,
      label: `Join ${company.name}`,
      badge: company.sample ? 'Sample data' : undefined,
      description: company.sample
        ? `${kpiCount(company.kpis)} with two years of history.` +
          (index === 0 ? ' The KPI page and the analyst agent have data at once.' : '')
        : `An existing company with ${kpiCount(company.kpis)}.`,
    })),
    {
      value: NEW_COMPANY,
      label: 'Start a new company',
      description: 'An empty company of your own: load your KPIs and invite your team.',
    },
  ]
}

function kpiCount(n: number): string {
  return n === 1 ? '1 KPI' : `${n} KPIs`
}
