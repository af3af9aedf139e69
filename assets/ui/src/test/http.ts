// Test helpers: real Response objects (JSON, or a text/event-stream fed chunk by chunk) for a
// stubbed global fetch, and a recorder of the requests made.
import { vi } from 'vitest'

export function json(status: number, body: unknown): Response {
  return new Response(status === 204 ? null : JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' },
  })
}

/** A streaming response whose body is `chunks`, sent one by one. */
export function eventStream(chunks: string[]): Response {
  const encoder = new TextEncoder()
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk))
      controller.close()
    },
  })
  return new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream' } })
}

export function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`
}

export interface Recorded {
  method: string
  url: string
  headers: Headers
  body: unknown
}

/** Stubs fetch with `answer`, recording every request. */
export function stubFetch(answer: (request: Recorded) => Response | Promise<Response>): Recorded[] {
  const calls: Recorded[] = []
  vi.stubGlobal('fetch', async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = input instanceof Request ? input : new Request(new URL(String(input), 'http://localhost'), init)
    const text = await request.clone().text()
    const recorded: Recorded = {
      method: request.method,
      url: new URL(request.url).pathname + new URL(request.url).search,
      headers: request.headers,
      body: text ? JSON.parse(text) : undefined,
    }
    calls.push(recorded)
    return answer(recorded)
  })
  return calls
}
