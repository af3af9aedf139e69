import { describe, expect, it } from 'vitest'
import { buildItems, emptyRun, promptBefore, type Message } from './conversation'

let next = 0
function message(role: string, fields: Partial<Message> = {}): Message {
  next++
  return {
    id: `m${next}`,
    session_id: 's1',
    role,
    content: '',
    status: 'complete',
    created_at: '2026-01-01T00:00:00Z',
    ...fields,
  }
}

describe('buildItems', () => {
  it('pairs stored tool calls with their results and marks the final answer', () => {
    const prompt = message('user', { content: 'Which departments missed?' })
    const calls = message('assistant', { tool_calls: [{ id: 'c1', name: 'kpi_vs_target', arguments: { period: 'last_quarter' } }] })
    const result = message('tool', { tool_call_id: 'c1', content: '{"missed":["Sales"]}' })
    const answer = message('assistant', { content: 'Sales missed.' })
    const items = buildItems([prompt, calls, result, answer], null)
    expect(items.map((i) => i.kind)).toEqual(['user', 'tool', 'assistant'])
    const tool = items[1]
    expect(tool?.kind === 'tool' && tool.tool).toMatchObject({ name: 'kpi_vs_target', result: { missed: ['Sales'] }, error: false })
    expect(tool?.kind === 'tool' && tool.running).toBe(false)
    const final = items[2]
    expect(final?.kind === 'assistant' && final.final).toBe(true)
  })

  it('shows the live run after the stored turns: calls, results, then streamed text', () => {
    const prompt = message('user', { content: 'hi' })
    const run = emptyRun()
    run.calls.push({ id: 'c9', name: 'list_kpis', arguments: {} })
    run.results.c9 = { result: 'boom', error: true }
    run.text = 'Looking'
    const items = buildItems([prompt], run)
    expect(items.map((i) => i.kind)).toEqual(['user', 'tool', 'assistant'])
    expect(items[1]?.kind === 'tool' && items[1].tool).toMatchObject({ result: 'boom', error: true })
    expect(items[2]).toMatchObject({ kind: 'assistant', key: 'live', content: 'Looking', final: false })
  })

  it('shows a reasoning model\'s thinking on the live answer before its text arrives', () => {
    const run = emptyRun()
    run.reasoning = 'The user wants revenue.'
    const items = buildItems([message('user')], run)
    expect(items[1]).toMatchObject({ kind: 'assistant', key: 'live', content: '', reasoning: 'The user wants revenue.' })
  })

  it('marks a stored call without a result as running while the run goes on', () => {
    const calls = message('assistant', { tool_calls: [{ id: 'c2', name: 'sql_query', arguments: '{"sql":"select 1"}' }] })
    const [item] = buildItems([message('user'), calls], emptyRun()).slice(1)
    expect(item?.kind === 'tool' && item.running).toBe(true)
    expect(item?.kind === 'tool' && item.tool.arguments).toEqual({ sql: 'select 1' })
  })

  it('keeps an interrupted answer even when it is empty', () => {
    const items = buildItems([message('user'), message('assistant', { status: 'interrupted' })], null)
    expect(items.map((i) => i.kind)).toEqual(['user', 'assistant'])
  })
})

describe('promptBefore', () => {
  it('finds the prompt an answer replied to', () => {
    const first = message('user', { content: 'one' })
    const answer = message('assistant', { content: 'two' })
    expect(promptBefore([first, answer], answer.id)?.content).toBe('one')
    expect(promptBefore([answer], answer.id)).toBeNull()
  })
})
