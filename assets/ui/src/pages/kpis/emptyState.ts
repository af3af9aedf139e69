import type { Schemas } from '@/api/client'

/** What the KPI page says when it has nothing to show, and the command that helps, if any. */
export interface KpiEmptyState {
  title: string
  description: string
  /** A command for the server's terminal (shown to admins, with a copy button). */
  command?: string
}

const TABLES = 'the kpis, kpi_values and kpi_targets tables (see docs/schema.md)'

/**
 * Says what is true for the situation: a department without KPIs, an account without a company,
 * a company without KPIs on a server that has sample data elsewhere, or no KPIs at all.
 */
export function kpiEmptyState(
  overview: Schemas['KpiOverview'] | null,
  department: string,
  isAdmin: boolean,
): KpiEmptyState {
  if (department) {
    return {
      title: 'No KPIs in this department',
      description: `${department} has no KPIs. Pick another department, or All departments.`,
    }
  }
  if (!overview) {
    return { title: 'No KPIs to show', description: `Your company has no KPIs yet. Load them into ${TABLES}.` }
  }
  const company = overview.company
  if (!company) {
    return {
      title: 'Your account belongs to no company',
      description: 'KPIs are kept per company. Ask an admin to create your account in one.',
    }
  }
  const samples = overview.sample_companies
  const first = samples[0]
  if (first && !samples.includes(company)) {
    const where = listed(samples)
    return {
      title: `No KPIs in ${company} yet`,
      description:
        `This server has sample data in ${where}, but your account belongs to ${company}, which has no KPIs. ` +
        (isAdmin
          ? `To explore the sample data, sign in as a user of ${first}: stop agentbox, create one with the command below (it asks for the password on standard input), and start it again. `
          : `To explore the sample data, ask an admin for an account in ${first}. `) +
        `To track ${company}'s own KPIs, load them into ${TABLES}.`,
      command: isAdmin
        ? `agentbox user create --email you+demo@example.com --password-stdin --company "${first}"`
        : undefined,
    }
  }
  return {
    title: 'No KPIs yet',
    description:
      `${company} has no KPIs yet. Load them into ${TABLES}` +
      (isAdmin ? ', or restart agentbox with --sample-data to explore three demo companies first.' : ', or ask an admin to.'),
    command: isAdmin ? 'agentbox serve --sample-data' : undefined,
  }
}

function listed(names: readonly string[]): string {
  if (names.length < 2) return names.join('')
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`
}
