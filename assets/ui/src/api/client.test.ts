import { afterEach, describe, expect, it, vi } from 'vitest'
import { api, call, configureApi, requestHeaders } from './client'
import { ApiError, messageOf, NETWORK_MESSAGE, toApiError } from './errors'
import { json, stubFetch } from '@/test/http'

afterEach(() => {
  vi.unstubAllGlobals()
  configureApi({ csrfToken: () => null, onUnauthenticated: () => {} })
})

describe('request headers', () => {
  it('send the CSRF token on writes only', () => {
    configureApi({ csrfToken: () => 'token-1' })
    expect(requestHeaders('GET')['X-CSRF-Token']).toBeUndefined()
    expect(requestHeaders('post')['X-CSRF-Token']).toBe('token-1')
    expect(requestHeaders('DELETE')['X-CSRF-Token']).toBe('token-1')
  })
})

describe('call', () => {
  it('returns the data of a success', async () => {
    stubFetch(() => json(200, { setup_needed: true }))
    await expect(call(api.GET('/api/v1/auth/setup'))).resolves.toEqual({ setup_needed: true })
  })

  it('adds the CSRF header through the client middleware', async () => {
    configureApi({ csrfToken: () => 'csrf-abc' })
    const calls = stubFetch(() => json(204, null))
    await call(api.POST('/api/v1/auth/logout'))
    expect(calls[0]?.headers.get('x-csrf-token')).toBe('csrf-abc')
  })

  it('maps an error body to ApiError with its code, message and field', async () => {
    stubFetch(() => json(422, { code: 'invalid_input', message: 'email is not valid', field: 'email' }))
    const failure = await call(api.POST('/api/v1/auth/login', { body: { email: 'x', password: 'y' } })).catch((e: unknown) => e)
    expect(failure).toBeInstanceOf(ApiError)
    expect(failure).toMatchObject({ status: 422, code: 'invalid_input', field: 'email' })
  })

  it('reports an unauthenticated answer to the auth store', async () => {
    const ended = vi.fn()
    configureApi({ onUnauthenticated: ended })
    stubFetch(() => json(401, { code: 'unauthenticated', message: 'sign in' }))
    await expect(call(api.GET('/api/v1/me'))).rejects.toBeInstanceOf(ApiError)
    expect(ended).toHaveBeenCalledOnce()
  })

  it('turns a network failure into a message that says what to do', async () => {
    vi.stubGlobal('fetch', () => Promise.reject(new TypeError('Failed to fetch')))
    const failure = await call(api.GET('/api/v1/me')).catch((e: unknown) => e)
    expect(failure).toMatchObject({ status: 0, code: 'network', message: NETWORK_MESSAGE })
  })
})

describe('errors', () => {
  it('explain answers without an error body', () => {
    expect(toApiError(503, null).message).toMatch(/starting or unavailable/)
    expect(toApiError(500, '<html>').code).toBe('http_error')
  })

  it('give a message for anything thrown', () => {
    expect(messageOf(new ApiError(400, 'x', 'bad'))).toBe('bad')
    expect(messageOf(new TypeError('x'))).toBe(NETWORK_MESSAGE)
    expect(messageOf('plain')).toBe('plain')
  })
})
