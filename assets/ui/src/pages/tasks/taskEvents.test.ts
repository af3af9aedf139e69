import { describe, expect, it } from 'vitest'
import { applyTaskEvent, emptyTaskLive, type TaskLive } from './taskEvents'

function play(events: [string, Record<string, unknown>][]): TaskLive {
  return events.reduce((state, [kind, data], index) => applyTaskEvent(state, kind, data, index + 1), emptyTaskLive())
}

describe('task events', () => {
  it('follow a run from start to finish', () => {
    const state = play([
      ['started', { attempt: 1, worker: 'w' }],
      ['progress', { progress: 0.5, message: 'Model call 1' }],
      ['tool_call', { id: 't1', name: 'list_kpis', arguments: {} }],
      ['tool_result', { id: 't1', name: 'list_kpis', result: [1], error: false }],
      ['token', { text: 'Revenue ' }],
      ['token', { text: 'is up.' }],
      ['finished', { status: 'succeeded', result: 'Revenue is up.' }],
    ])
    expect(state.progress).toBe(1)
    expect(state.message).toBe('Model call 1')
    expect(state.text).toBe('Revenue is up.')
    expect(state.tools[0]).toMatchObject({ name: 'list_kpis', result: [1], error: false })
    expect(state.finished).toEqual({ status: 'succeeded', result: 'Revenue is up.', error: undefined })
    expect(state.log.map((l) => l.kind)).toEqual(['started', 'progress', 'tool_call', 'finished'])
  })

  it('start over on a second attempt and note cancellation', () => {
    const state = play([
      ['started', { attempt: 1 }],
      ['token', { text: 'half' }],
      ['requeued', { reason: 'shutdown' }],
      ['started', { attempt: 2 }],
      ['cancel_requested', {}],
    ])
    expect(state.text).toBe('')
    expect(state.attempt).toBe(2)
    expect(state.cancelRequested).toBe(true)
    expect(state.log.at(-2)?.text).toBe('Started (attempt 2)')
  })
})
