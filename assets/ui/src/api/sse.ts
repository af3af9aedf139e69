// Server-sent events over fetch: the chat and model-pull streams answer POST requests (which
// EventSource cannot send) and need the CSRF header. GET streams (task events) use EventSource.
import { ApiError, NETWORK_MESSAGE } from './errors'
import { failed, requestHeaders } from './client'

export interface SseMessage {
  event: string
  data: string
  id: string | null
}

/** An incremental parser of the text/event-stream format: feed it chunks, get whole events. */
export class SseParser {
  private buffer = ''
  private event = ''
  private data: string[] = []
  private id: string | null = null

  push(chunk: string): SseMessage[] {
    this.buffer += chunk
    const out: SseMessage[] = []
    let newline: number
    while ((newline = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buffer.slice(0, newline)
      const width = this.buffer.startsWith('\r\n', newline) ? 2 : 1
      // A lone \r at the end of a chunk may be the first half of \r\n: wait for more.
      if (width === 1 && this.buffer[newline] === '\r' && newline === this.buffer.length - 1) break
      this.buffer = this.buffer.slice(newline + width)
      const message = this.line(line)
      if (message) out.push(message)
    }
    return out
  }

  private line(line: string): SseMessage | null {
    if (line === '') {
      if (!this.data.length) {
        this.event = ''
        return null
      }
      const message = { event: this.event || 'message', data: this.data.join('\n'), id: this.id }
      this.event = ''
      this.data = []
      return message
    }
    if (line.startsWith(':')) return null
    const colon = line.indexOf(':')
    const field = colon < 0 ? line : line.slice(0, colon)
    let value = colon < 0 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    if (field === 'event') this.event = value
    else if (field === 'data') this.data.push(value)
    else if (field === 'id') this.id = value
    return null
  }
}

/**
 * POSTs `body` as JSON and calls `onEvent` with each event's name and parsed JSON data until
 * the stream ends. Errors before the stream starts throw ApiError; aborting `signal` closes
 * the connection (the server then stops the work) and resolves quietly.
 */
export async function postEvents(
  path: string,
  body: unknown,
  onEvent: (event: string, data: unknown) => void,
  signal?: AbortSignal,
): Promise<void> {
  let response: Response
  try {
    response = await fetch(path, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { ...requestHeaders('POST'), 'Content-Type': 'application/json', Accept: 'text/event-stream' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    })
  } catch (error) {
    if (signal?.aborted) return
    throw error instanceof ApiError ? error : new ApiError(0, 'network', NETWORK_MESSAGE)
  }
  if (!response.ok) {
    const parsed: unknown = await response.json().catch(() => null)
    throw failed(response.status, parsed)
  }
  if (!response.body) return
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader()
  const parser = new SseParser()
  try {
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      for (const message of parser.push(value)) {
        let data: unknown = null
        try {
          data = JSON.parse(message.data)
        } catch {
          data = message.data
        }
        onEvent(message.event, data)
      }
    }
  } catch (error) {
    if (signal?.aborted) return
    throw new ApiError(0, 'stream_broken', 'The connection dropped while the answer streamed. Try again.', undefined)
  } finally {
    reader.releaseLock()
  }
}
