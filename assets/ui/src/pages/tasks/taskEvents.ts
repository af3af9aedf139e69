// Folds a task's event stream (GET /api/v1/tasks/{id}/events) into what the page shows: the
// progress, the text the agent wrote so far, its tool calls, and how it ended.
import type { ToolView } from '@/pages/chat/conversation'

export const TASK_EVENT_KINDS = [
  'started',
  'progress',
  'cancel_requested',
  'requeued',
  'token',
  'message',
  'tool_call',
  'tool_result',
  'agent_error',
  'answer',
  'finished',
  'error',
] as const

export interface TaskLive {
  progress: number | null
  message: string | null
  text: string
  tools: ToolView[]
  log: { id: number; kind: string; text: string }[]
  finished: { status: string; result?: string; error?: string } | null
  cancelRequested: boolean
  attempt: number | null
}

export function emptyTaskLive(): TaskLive {
  return { progress: null, message: null, text: '', tools: [], log: [], finished: null, cancelRequested: false, attempt: null }
}

type Data = Record<string, unknown>

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined
}

/** The state after one event; `id` orders the log. */
export function applyTaskEvent(state: TaskLive, kind: string, data: Data, id: number): TaskLive {
  const next: TaskLive = { ...state }
  const log = (text: string) => {
    next.log = [...state.log, { id, kind, text }]
  }
  switch (kind) {
    case 'started':
      next.attempt = typeof data.attempt === 'number' ? data.attempt : null
      // A second attempt starts over: its text replaces the first's.
      next.text = ''
      next.tools = []
      log(`Started${next.attempt && next.attempt > 1 ? ` (attempt ${next.attempt})` : ''}`)
      break
    case 'progress':
      next.progress = typeof data.progress === 'number' ? data.progress : state.progress
      next.message = str(data.message) ?? state.message
      if (next.message && next.message !== state.message) log(next.message)
      break
    case 'cancel_requested':
      next.cancelRequested = true
      log('Cancel requested')
      break
    case 'requeued':
      log(`Back in the queue${str(data.reason) ? `: ${str(data.reason)}` : ''}`)
      break
    case 'token':
      next.text = state.text + (str(data.text) ?? '')
      break
    case 'tool_call':
      next.tools = [...state.tools, { id: str(data.id) ?? String(id), name: str(data.name) ?? 'tool', arguments: data.arguments, error: false }]
      log(`Called ${str(data.name) ?? 'a tool'}`)
      break
    case 'tool_result':
      next.tools = state.tools.map((tool) =>
        tool.id === data.id ? { ...tool, result: data.result, error: data.error === true } : tool,
      )
      break
    case 'message':
      // A stored assistant turn: its text is kept; the next step streams after it.
      if (data.role === 'assistant' && state.text && !state.text.endsWith('\n\n')) next.text = `${state.text}\n\n`
      break
    case 'agent_error':
    case 'error':
      log(`Error: ${str(data.message) ?? 'unknown'}`)
      break
    case 'finished':
      next.finished = { status: str(data.status) ?? 'failed', result: str(data.result), error: str(data.error) }
      next.progress = 1
      log(`Finished: ${next.finished.status}`)
      break
  }
  return next
}
