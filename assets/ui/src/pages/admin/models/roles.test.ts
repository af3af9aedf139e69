import { describe, expect, it } from 'vitest'
import { describeChange, isCatalogDefault } from './roles'

describe('model roles', () => {
  it('tells the catalog default apart from a role given explicitly', () => {
    const model = { roles: ['fast', 'reasoning'] as const, given_roles: ['reasoning'] as const }
    expect(isCatalogDefault(model, 'fast')).toBe(true)
    expect(isCatalogDefault(model, 'reasoning')).toBe(false)
    expect(isCatalogDefault(model, 'code')).toBe(false)
  })

  it('says which roles changed hands', () => {
    expect(
      describeChange({
        name: 'SmolLM2',
        roles: ['fast', 'reasoning'],
        given_roles: ['reasoning'],
        moved: [{ role: 'reasoning', from: 'qwq-32b', to: 'SmolLM2' }],
      }),
    ).toBe('reasoning: now SmolLM2 (was qwq-32b)')
    expect(describeChange({ name: 'SmolLM2', roles: [], given_roles: [], moved: [] })).toBe('SmolLM2: no role changed.')
  })
})
