import { defineStore } from 'pinia'
import { computed, ref } from 'vue'
import { api, call, configureApi, type Schemas } from '@/api/client'
import { ApiError } from '@/api/errors'

export type Me = Schemas['MeBody']

/**
 * Who is signed in. The session cookie is HTTP-only: the UI learns the user and the CSRF token
 * from the login answer, or from `GET /api/v1/me` after a reload.
 */
export const useAuth = defineStore('auth', () => {
  const user = ref<Me | null>(null)
  const csrfToken = ref<string | null>(null)
  const setupNeeded = ref(false)
  /** While setup is needed: the companies a first admin may join (sample data), default first. */
  const setupCompanies = ref<Schemas['SetupCompany'][]>([])
  const loaded = ref(false)
  /** Set when the server ended the session under us (shown on the login page). */
  const expired = ref(false)
  let loading: Promise<void> | null = null

  configureApi({
    csrfToken: () => csrfToken.value,
    onUnauthenticated: () => {
      if (user.value) expired.value = true
      user.value = null
      csrfToken.value = null
    },
  })

  const isAdmin = computed(() => user.value?.role === 'admin')

  async function fetchState() {
    const state = await call(api.GET('/api/v1/auth/setup'))
    setupNeeded.value = state.setup_needed
    setupCompanies.value = state.companies
    if (state.setup_needed) {
      user.value = null
      return
    }
    try {
      const me = await call(api.GET('/api/v1/me'))
      user.value = me
      csrfToken.value = me.csrf_token ?? null
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 401) throw error
      user.value = null
    }
  }

  /** Learns the setup state and the signed-in user once (later calls share the first). */
  function load(): Promise<void> {
    loading ??= fetchState()
      .then(() => {
        loaded.value = true
      })
      .catch((error: unknown) => {
        loading = null
        throw error
      })
    return loading
  }

  function signedIn(body: Schemas['SignedInBody']) {
    user.value = { ...body.user, auth: 'session', csrf_token: body.csrf_token }
    csrfToken.value = body.csrf_token
    setupNeeded.value = false
    setupCompanies.value = []
    expired.value = false
    loaded.value = true
    loading = Promise.resolve()
  }

  async function login(email: string, password: string) {
    signedIn(await call(api.POST('/api/v1/auth/login', { body: { email, password } })))
  }

  async function setup(body: Schemas['SetupBody']) {
    signedIn(await call(api.POST('/api/v1/auth/setup', { body })))
  }

  async function logout() {
    try {
      await call(api.POST('/api/v1/auth/logout'))
    } finally {
      user.value = null
      csrfToken.value = null
    }
  }

  return { user, csrfToken, setupNeeded, setupCompanies, loaded, expired, isAdmin, load, login, setup, logout }
})
