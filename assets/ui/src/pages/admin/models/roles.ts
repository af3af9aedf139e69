// Roles are a mapping: one model may play several roles. What the Models page shows and sends.
import type { Schemas } from '@/api/client'

export type ModelRole = Schemas['ModelRole']
export type RoleChange = Schemas['RoleChange']

export const ROLES: readonly { role: ModelRole; label: string; description: string }[] = [
  { role: 'fast', label: 'Fast', description: 'General chat (the assistant agent).' },
  { role: 'reasoning', label: 'Reasoning', description: 'Analysis with tools (the analyst agent).' },
  { role: 'code', label: 'Code', description: 'Code and repositories (the coder agent).' },
  { role: 'embedding', label: 'Embedding', description: 'Semantic search (embedding models only).' },
]

interface RoleHolder {
  roles: readonly ModelRole[]
  given_roles: readonly ModelRole[]
}

/** A role the model plays as the catalog's model for it: it moves only by giving it to another. */
export function isCatalogDefault(model: RoleHolder, role: ModelRole): boolean {
  return model.roles.includes(role) && !model.given_roles.includes(role)
}

/** One line per role that changed hands: "reasoning: now SmolLM2 (was qwq-32b)". */
export function describeChange(change: RoleChange): string {
  if (!change.moved.length) return `${change.name}: no role changed.`
  return change.moved
    .map((move) => `${move.role}: now ${move.to ?? 'no model'}${move.from ? ` (was ${move.from})` : ''}`)
    .join('; ')
}
