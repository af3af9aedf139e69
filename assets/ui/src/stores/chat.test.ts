import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createPinia, setActivePinia } from 'pinia'
import { useChat } from './chat'
import { eventStream, json, sse, stubFetch } from '@/test/http'

const session = { id: 's1', agent: 'auto', title: '', archived: false, created_at: '2026-01-01T00:00:00Z', updated_at: '2026-01-01T00:00:00Z' }
const stored = (id: string, role: string, fields: Record<string, unknown> = {}) => ({
  id,
  session_id: 's1',
  role,
  content: '',
  status: 'complete',
  created_at: '2026-01-01T00:00:00Z',
  ...fields,
})

beforeEach(() => setActivePinia(createPinia()))
afterEach(() => vi.unstubAllGlobals())

describe('chat store', () => {
  it('creates the session, streams the answer into items, then reloads the stored turns', async () => {
    const prompt = stored('m1', 'user', { content: 'Which departments missed?' })
    const calls = stored('m2', 'assistant', { tool_calls: [{ id: 'c1', name: 'list_kpis', arguments: {} }] })
    const result = stored('m3', 'tool', { tool_call_id: 'c1', content: '[]' })
    const answer = stored('m4', 'assistant', { content: 'None missed.', agent: 'analyst' })
    const chat = useChat()
    const snapshots: string[][] = []
    const calls_ = stubFetch((request) => {
      if (request.method === 'POST' && request.url === '/api/v1/sessions') return json(201, session)
      if (request.method === 'POST' && request.url === '/api/v1/sessions/s1/messages')
        return eventStream([
          sse('message', prompt),
          sse('tool_call', { id: 'c1', name: 'list_kpis', arguments: {} }),
          sse('message', calls),
          sse('tool_result', { id: 'c1', name: 'list_kpis', result: [], error: false }),
          sse('message', result),
          sse('token', { text: 'None ' }),
          sse('token', { text: 'missed.' }),
          sse('message', answer),
          sse('done', { message_id: 'm4', status: 'complete', agent: 'analyst', steps: 2, prompt_tokens: 10, completion_tokens: 3 }),
        ])
      if (request.url.startsWith('/api/v1/sessions/s1/messages')) return json(200, [prompt, calls, result, answer])
      if (request.url.startsWith('/api/v1/sessions')) return json(200, [session])
      return json(404, { code: 'not_found', message: request.url })
    })
    chat.$subscribe(() => snapshots.push(chat.items.map((i) => i.kind)))
    await chat.send('Which departments missed?')

    expect(calls_[0]?.body).toEqual({ agent: 'auto' })
    expect(calls_[1]?.body).toEqual({ content: 'Which departments missed?' })
    expect(chat.streaming).toBe(false)
    expect(chat.lastRun?.steps).toBe(2)
    expect(chat.items.map((i) => i.kind)).toEqual(['user', 'tool', 'assistant'])
    // While it streamed, the text showed before it was stored.
    expect(snapshots.some((kinds) => kinds.join() === 'user,tool,assistant')).toBe(true)
  })

  it('fills a tool card while the call is generated, then shows the complete call', async () => {
    const chat = useChat()
    chat.current = session
    const seen: unknown[] = []
    stubFetch((request) =>
      request.method === 'POST'
        ? eventStream([
            sse('tool_call_delta', { id: 'c1', name: 'kpi_values', arguments: '' }),
            sse('tool_call_delta', { id: 'c1', name: 'kpi_values', arguments: '{"kpi": "rev' }),
            sse('tool_call_delta', { id: 'c1', name: 'kpi_values', arguments: 'enue"}' }),
            sse('tool_call', { id: 'c1', name: 'kpi_values', arguments: { kpi: 'revenue' } }),
            sse('done', { status: 'complete' }),
          ])
        : json(200, []),
    )
    chat.$subscribe(() => {
      for (const item of chat.items) if (item.kind === 'tool') seen.push(item.tool.arguments)
    })
    await chat.send('revenue?')
    expect(seen).toContain('{"kpi": "rev')
    expect(seen).toContain('{"kpi": "revenue"}')
    expect(seen).toContainEqual({ kpi: 'revenue' })
  })

  it('sends another agent only when it differs from the session’s', async () => {
    const chat = useChat()
    chat.current = { ...session, agent: 'analyst' }
    chat.agent = 'coder'
    const calls = stubFetch((request) =>
      request.method === 'POST' ? eventStream([sse('done', { status: 'complete' })]) : json(200, []),
    )
    await chat.send('hello')
    expect(calls[0]?.body).toEqual({ content: 'hello', agent: 'coder' })
  })

  it('keeps the error of a run that could not start', async () => {
    const chat = useChat()
    chat.current = session
    stubFetch((request) =>
      request.method === 'POST' ? json(409, { code: 'session_busy', message: 'still answering' }) : json(200, []),
    )
    await chat.send('again')
    expect(chat.runError).toEqual({ code: 'session_busy', message: 'still answering' })
    expect(chat.streaming).toBe(false)
  })

  it('after Stop, refreshes until the interrupted answer the server stores a moment later shows', async () => {
    const prompt = stored('m1', 'user', { content: 'Write a long note.' })
    const stopped = stored('m2', 'assistant', { content: 'Dear team,', status: 'interrupted' })
    const chat = useChat()
    chat.current = session
    let streamController: ReadableStreamDefaultController<Uint8Array> | undefined
    let reads = 0
    stubFetch((request) => {
      if (request.method === 'POST') {
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            streamController = controller
            controller.enqueue(new TextEncoder().encode(sse('message', prompt)))
          },
        })
        return new Response(body, { status: 200, headers: { 'Content-Type': 'text/event-stream' } })
      }
      if (request.url.startsWith('/api/v1/sessions/s1/messages')) {
        reads += 1
        // The first read comes before the server noticed the closed stream.
        return json(200, reads === 1 ? [prompt] : [prompt, stopped])
      }
      return json(200, [session])
    })
    const sending = chat.send('Write a long note.')
    await vi.waitFor(() => expect(chat.messages).toHaveLength(1))
    chat.stop()
    streamController?.error(new Error('aborted'))
    await sending

    expect(chat.runError).toBeNull()
    expect(reads).toBe(2)
    expect(chat.messages.at(-1)).toMatchObject({ id: 'm2', status: 'interrupted' })
  })

  it('saves a rating and shows it on the message', async () => {
    const chat = useChat()
    chat.messages = [stored('m4', 'assistant', { content: 'x' }) as never]
    const calls = stubFetch(() => json(200, { rating: 'up' }))
    await chat.rate('m4', 'up', 'spot on')
    expect(calls[0]).toMatchObject({ method: 'PUT', url: '/api/v1/messages/m4/rating', body: { rating: 'up', comment: 'spot on' } })
    expect(chat.messages[0]).toMatchObject({ rating: 1, rating_comment: 'spot on' })
  })
})
