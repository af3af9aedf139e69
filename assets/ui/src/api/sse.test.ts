import { afterEach, describe, expect, it, vi } from 'vitest'
import { ApiError } from './errors'
import { postEvents, SseParser } from './sse'
import { eventStream, json, sse, stubFetch } from '@/test/http'

afterEach(() => vi.unstubAllGlobals())

describe('SseParser', () => {
  it('assembles events split anywhere across chunks', () => {
    const parser = new SseParser()
    const text = 'event: token\ndata: {"text":"Hel"}\n\nevent: token\ndata: {"text":"lo"}\n\n'
    const events = [...text].flatMap((char) => parser.push(char))
    expect(events.map((e) => [e.event, JSON.parse(e.data).text])).toEqual([
      ['token', 'Hel'],
      ['token', 'lo'],
    ])
  })

  it('joins data lines, keeps the id, skips comments and handles CRLF', () => {
    const parser = new SseParser()
    const events = parser.push(': keep-alive\r\nid: 7\r\nevent: progress\r\ndata: a\r\ndata: b\r\n\r\n')
    expect(events).toEqual([{ event: 'progress', data: 'a\nb', id: '7' }])
  })

  it('waits for the end of an event before emitting it', () => {
    const parser = new SseParser()
    expect(parser.push('event: done\ndata: {}\n')).toEqual([])
    expect(parser.push('\n')).toEqual([{ event: 'done', data: '{}', id: null }])
  })

  it('names an event without `event:` a message', () => {
    expect(new SseParser().push('data: x\n\n')[0]?.event).toBe('message')
  })
})

describe('postEvents', () => {
  it('posts JSON with the headers and hands over each event parsed', async () => {
    const calls = stubFetch(() => eventStream([sse('token', { text: 'Hi' }), sse('done', { status: 'complete' })]))
    const seen: [string, unknown][] = []
    await postEvents('/api/v1/sessions/1/messages', { content: 'hello' }, (event, data) => seen.push([event, data]))
    expect(seen).toEqual([
      ['token', { text: 'Hi' }],
      ['done', { status: 'complete' }],
    ])
    expect(calls[0]?.method).toBe('POST')
    expect(calls[0]?.body).toEqual({ content: 'hello' })
    expect(calls[0]?.headers.get('accept')).toBe('text/event-stream')
  })

  it('throws the server’s error when the stream does not start', async () => {
    stubFetch(() => json(409, { code: 'session_busy', message: 'still answering' }))
    const failure = await postEvents('/x', {}, () => {}).catch((e: unknown) => e)
    expect(failure).toBeInstanceOf(ApiError)
    expect(failure).toMatchObject({ status: 409, code: 'session_busy', message: 'still answering' })
  })

  it('resolves quietly when aborted before the answer', async () => {
    vi.stubGlobal('fetch', (_: unknown, init: RequestInit) => {
      return new Promise((_resolve, reject) => {
        init.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')))
      })
    })
    const controller = new AbortController()
    const done = postEvents('/x', {}, () => {}, controller.signal)
    controller.abort()
    await expect(done).resolves.toBeUndefined()
  })
})
