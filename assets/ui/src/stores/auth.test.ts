import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createPinia, setActivePinia } from 'pinia'
import { useAuth } from './auth'
import { api, call } from '@/api/client'
import { json, stubFetch } from '@/test/http'

const user = {
  id: 'u1',
  email: 'ada@example.com',
  display_name: 'Ada',
  role: 'admin',
  company_id: 'c1',
  department_id: null,
  disabled: false,
  created_at: '2026-01-01T00:00:00Z',
}

beforeEach(() => setActivePinia(createPinia()))
afterEach(() => vi.unstubAllGlobals())

describe('auth store', () => {
  it('learns that setup is needed and asks nothing else', async () => {
    const calls = stubFetch(() => json(200, { setup_needed: true }))
    const auth = useAuth()
    await auth.load()
    await auth.load()
    expect(auth.setupNeeded).toBe(true)
    expect(auth.user).toBeNull()
    expect(calls).toHaveLength(1)
  })

  it('restores the session and its CSRF token after a reload', async () => {
    stubFetch((request) =>
      request.url === '/api/v1/auth/setup' ? json(200, { setup_needed: false }) : json(200, { ...user, auth: 'session', csrf_token: 'tok' }),
    )
    const auth = useAuth()
    await auth.load()
    expect(auth.user?.email).toBe('ada@example.com')
    expect(auth.isAdmin).toBe(true)
    expect(auth.csrfToken).toBe('tok')
  })

  it('signs in, sends the token on writes, and forgets the user when the server ends the session', async () => {
    const auth = useAuth()
    const calls = stubFetch((request) => {
      if (request.url === '/api/v1/auth/login') return json(200, { user, csrf_token: 'tok-2', expires_at: '2027-01-01T00:00:00Z' })
      return json(401, { code: 'unauthenticated', message: 'sign in again' })
    })
    await auth.login('ada@example.com', 'a long passphrase')
    expect(auth.user?.csrf_token).toBe('tok-2')
    await expect(call(api.POST('/api/v1/sessions', { body: {} }))).rejects.toThrow('sign in again')
    expect(calls[1]?.headers.get('x-csrf-token')).toBe('tok-2')
    expect(auth.user).toBeNull()
    expect(auth.expired).toBe(true)
  })
})
