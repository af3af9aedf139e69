import { defineStore } from 'pinia'
import { computed, ref, watch } from 'vue'

export type ThemePreference = 'system' | 'light' | 'dark'

const STORAGE_KEY = 'agentbox.theme'

function stored(): ThemePreference {
  const value = globalThis.localStorage?.getItem(STORAGE_KEY)
  return value === 'light' || value === 'dark' ? value : 'system'
}

/** Light, dark, or the system's; applied as `data-theme` on <html> so tokens.css switches. */
export const useTheme = defineStore('theme', () => {
  const preference = ref<ThemePreference>(stored())
  const media = globalThis.matchMedia?.('(prefers-color-scheme: dark)')
  const systemDark = ref(media?.matches ?? false)
  media?.addEventListener('change', (event) => {
    systemDark.value = event.matches
  })

  const resolved = computed<'light' | 'dark'>(() =>
    preference.value === 'system' ? (systemDark.value ? 'dark' : 'light') : preference.value,
  )

  function apply() {
    document.documentElement.dataset.theme = resolved.value
  }

  watch(resolved, apply, { immediate: true })
  watch(preference, (value) => {
    if (value === 'system') localStorage.removeItem(STORAGE_KEY)
    else localStorage.setItem(STORAGE_KEY, value)
  })

  /** system → light → dark → system. */
  function cycle() {
    preference.value = preference.value === 'system' ? 'light' : preference.value === 'light' ? 'dark' : 'system'
  }

  return { preference, resolved, cycle }
})
