import { beforeEach, describe, expect, it } from 'vitest'
import { nextTick } from 'vue'
import { createPinia, setActivePinia } from 'pinia'
import { useTheme } from './theme'

beforeEach(() => {
  localStorage.clear()
  setActivePinia(createPinia())
})

describe('theme store', () => {
  it('follows the system until a theme is picked, and remembers the pick', async () => {
    const theme = useTheme()
    expect(theme.preference).toBe('system')
    theme.cycle()
    await nextTick()
    expect(theme.preference).toBe('light')
    expect(document.documentElement.dataset.theme).toBe('light')
    theme.cycle()
    await nextTick()
    expect(document.documentElement.dataset.theme).toBe('dark')
    expect(localStorage.getItem('agentbox.theme')).toBe('dark')
    theme.cycle()
    await nextTick()
    expect(theme.preference).toBe('system')
    expect(localStorage.getItem('agentbox.theme')).toBeNull()
  })

  it('starts from the stored pick', () => {
    localStorage.setItem('agentbox.theme', 'dark')
    expect(useTheme().resolved).toBe('dark')
  })
})
