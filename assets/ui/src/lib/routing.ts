// Which model answers: the words the chat uses when another model answers in place of the one
// an agent asked for (a badge on the answer, a note under the agent picker).
import type { Schemas } from '@/api/client'

export type Fallback = Schemas['Fallback']
export type RoutePreview = Schemas['RoutePreview']

/** "SmolLM2 answered in place of reasoning (qwq-32b is not downloaded)". */
export function answeredInPlace(model: string | null | undefined, fallback: Fallback): string {
  return `${model || 'Another model'} answered in place of ${fallback.requested} (${fallback.reason})`
}

/** The short form for an option label: the model, and what it stands in for. */
export function routeLabel(preview: RoutePreview | null | undefined): string {
  if (!preview) return ''
  if (!preview.model) return 'no model can answer'
  if (preview.fallback) return `${preview.model}, in place of ${preview.fallback.requested}`
  return preview.model
}

/** A sentence under the agent picker when the agent's own model will not answer; else null. */
export function routeNote(preview: RoutePreview | null | undefined): string | null {
  if (!preview) return null
  if (!preview.model) return `No model can answer this agent: ${preview.problem ?? 'none is present'}.`
  if (preview.fallback) {
    return `${preview.model} will answer in place of ${preview.fallback.requested} (${preview.fallback.reason}).`
  }
  return null
}
