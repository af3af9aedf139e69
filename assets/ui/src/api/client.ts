// The typed API client: openapi-fetch over the paths generated from the OpenAPI document
// (schema.d.ts, `npm run api`), plus the CSRF header on writes and errors mapped to ApiError.
import createClient, { type Middleware } from 'openapi-fetch'
import { ApiError, NETWORK_MESSAGE, toApiError } from './errors'
import type { components, paths } from './schema'

export type Schemas = components['schemas']

interface Hooks {
  /** The session's CSRF token, sent as X-CSRF-Token on writes. */
  csrfToken: () => string | null
  /** A request was refused as unauthenticated (the session ended or expired). */
  onUnauthenticated: () => void
}

const hooks: Hooks = {
  csrfToken: () => null,
  onUnauthenticated: () => {},
}

/** Connects the client to the auth store (called once by it). */
export function configureApi(next: Partial<Hooks>) {
  Object.assign(hooks, next)
}

export const CSRF_HEADER = 'X-CSRF-Token'

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS'])

/** The headers every request carries: JSON, and the CSRF token on writes. */
export function requestHeaders(method: string): Record<string, string> {
  const headers: Record<string, string> = { Accept: 'application/json' }
  const token = hooks.csrfToken()
  if (!SAFE.has(method.toUpperCase()) && token) headers[CSRF_HEADER] = token
  return headers
}

const csrf: Middleware = {
  onRequest({ request }) {
    for (const [name, value] of Object.entries(requestHeaders(request.method))) {
      if (!request.headers.has(name)) request.headers.set(name, value)
    }
    return request
  },
}

export const api = createClient<paths>({
  // Absolute, because a Request made outside a page (tests) has no base to resolve against.
  baseUrl: globalThis.location?.origin ?? '',
  credentials: 'same-origin',
  // Looked up per request (not captured once), so tests can stand in for the network.
  fetch: (request: Request) => globalThis.fetch(request),
})
api.use(csrf)

/** Reports an unauthenticated answer to the auth store, then returns the error to throw. */
export function failed(status: number, body: unknown): ApiError {
  const error = toApiError(status, body)
  if (status === 401 && error.code === 'unauthenticated') hooks.onUnauthenticated()
  return error
}

interface FetchResult {
  data?: unknown
  error?: unknown
  response: Response
}

/** Awaits an openapi-fetch call: its data, or an ApiError with the server's code and message. */
export async function call<R extends FetchResult>(request: Promise<R>): Promise<Exclude<R['data'], undefined>> {
  let result: R
  try {
    result = await request
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error
    throw new ApiError(0, 'network', NETWORK_MESSAGE)
  }
  if (!result.response.ok) throw failed(result.response.status, result.error)
  return result.data as Exclude<R['data'], undefined>
}
