/** An error answer of the platform (`{code, message, field?}`), or a network failure. */
export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly field: string | undefined

  constructor(status: number, code: string, message: string, field?: string) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.field = field
  }

  /** The server could not be reached at all. */
  get network(): boolean {
    return this.status === 0
  }
}

export const NETWORK_MESSAGE = 'Could not reach agentbox. Check that it is running and your connection works, then try again.'

function isErrorBody(value: unknown): value is { code: string; message: string; field?: string } {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { code?: unknown }).code === 'string' &&
    typeof (value as { message?: unknown }).message === 'string'
  )
}

/** The ApiError for a failed response and its parsed body (which may not be the error shape). */
export function toApiError(status: number, body: unknown): ApiError {
  if (isErrorBody(body)) return new ApiError(status, body.code, body.message, body.field)
  if (status === 502 || status === 503 || status === 504)
    return new ApiError(status, 'unavailable', 'agentbox is starting or unavailable. Wait a moment, then try again.')
  return new ApiError(status, 'http_error', `The server answered ${status} without an explanation. Try again, or check its logs.`)
}

/** A human message for anything thrown (ApiError, network failure, a bug). */
export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.message
  if (error instanceof TypeError) return NETWORK_MESSAGE
  if (error instanceof Error) return error.message
  return String(error)
}
