import { describe, expect, it } from 'vitest'
import { answeredInPlace, routeLabel, routeNote, type RoutePreview } from './routing'

const fallback = { requested: 'reasoning', in_place_of: 'qwq-32b', reason: 'qwq-32b is not downloaded' }

describe('routing words', () => {
  it('says which model answered in place of which, and why', () => {
    expect(answeredInPlace('SmolLM2', fallback)).toBe('SmolLM2 answered in place of reasoning (qwq-32b is not downloaded)')
    expect(answeredInPlace(null, fallback)).toMatch(/^Another model answered/)
  })

  it('labels the agent picker with the model that would answer', () => {
    const own: RoutePreview = { requested: 'fast', model: 'llama', provider: 'local', fallback: null, problem: null }
    const standIn: RoutePreview = { requested: 'reasoning', model: 'SmolLM2', provider: 'local', fallback, problem: null }
    const none: RoutePreview = { requested: 'code', model: null, provider: null, fallback: null, problem: 'deepseek is not downloaded, and no other model is present' }
    expect(routeLabel(own)).toBe('llama')
    expect(routeLabel(standIn)).toBe('SmolLM2, in place of reasoning')
    expect(routeLabel(none)).toBe('no model can answer')
    expect(routeLabel(undefined)).toBe('')
    expect(routeNote(own)).toBeNull()
    expect(routeNote(standIn)).toBe('SmolLM2 will answer in place of reasoning (qwq-32b is not downloaded).')
    expect(routeNote(none)).toBe('No model can answer this agent: deepseek is not downloaded, and no other model is present.')
  })
})
