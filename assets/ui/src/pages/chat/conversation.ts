// What the chat shows: stored messages plus the run being streamed, flattened into items —
// prompts, answers, and one card per tool call with its result. Pure, so it is tested alone.
import type { Schemas } from '@/api/client'

export type Message = Schemas['Message']

export interface ToolView {
  id: string
  name: string
  arguments: unknown
  /** Absent while the tool runs. */
  result?: unknown
  error: boolean
}

/** The part of a run not stored yet: streamed text, announced calls, their results. */
export interface LiveRun {
  text: string
  /** A reasoning model's thinking for the current step, apart from the answer. */
  reasoning: string
  calls: { id: string; name: string; arguments: unknown }[]
  results: Record<string, { result: unknown; error: boolean }>
}

export type ChatItem =
  | { kind: 'user'; key: string; message: Message }
  | { kind: 'assistant'; key: string; content: string; message: Message | null; final: boolean; reasoning?: string }
  | { kind: 'tool'; key: string; tool: ToolView; running: boolean }

type Call = { id: string; name: string; arguments: unknown }

/** Adds a piece of a call being generated: its card shows the arguments' JSON text growing. */
export function streamCall<T extends Call>(calls: readonly T[], delta: Schemas['ToolCallDeltaData'], make: (call: Call) => T): T[] {
  if (!calls.some((call) => call.id === delta.id)) return [...calls, make({ ...delta })]
  return calls.map((call) => (call.id === delta.id ? { ...call, arguments: String(call.arguments) + delta.arguments } : call))
}

/** Adds a complete call, in place of the one streamed in pieces. */
export function completeCall<T extends Call>(calls: readonly T[], complete: Call, make: (call: Call) => T): T[] {
  if (!calls.some((call) => call.id === complete.id)) return [...calls, make(complete)]
  return calls.map((call) => (call.id === complete.id ? { ...call, arguments: complete.arguments } : call))
}

export function emptyRun(): LiveRun {
  return { text: '', reasoning: '', calls: [], results: {} }
}

interface StoredCall {
  id: string
  name: string
  arguments: unknown
}

function storedCalls(message: Message): StoredCall[] {
  const calls = message.tool_calls
  if (!Array.isArray(calls)) return []
  return calls.flatMap((call: unknown) => {
    if (typeof call !== 'object' || call === null) return []
    const { id, name, arguments: args } = call as Record<string, unknown>
    if (typeof id !== 'string' || typeof name !== 'string') return []
    return [{ id, name, arguments: typeof args === 'string' ? parseJson(args) : args }]
  })
}

/** JSON text as a value; other text as itself. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

export function buildItems(messages: readonly Message[], live: LiveRun | null): ChatItem[] {
  const toolAnswers = new Map<string, Message>()
  for (const message of messages) {
    if (message.role === 'tool' && message.tool_call_id) toolAnswers.set(message.tool_call_id, message)
  }
  const items: ChatItem[] = []
  const shown = new Set<string>()

  const toolItem = (call: StoredCall): ChatItem => {
    shown.add(call.id)
    const stored = toolAnswers.get(call.id)
    const streamed = live?.results[call.id]
    const tool: ToolView = { id: call.id, name: call.name, arguments: call.arguments, error: false }
    if (stored) {
      tool.result = parseJson(stored.content)
      tool.error = stored.status === 'error' || !!stored.error
    } else if (streamed) {
      tool.result = streamed.result
      tool.error = streamed.error
    }
    return { kind: 'tool', key: `tool-${call.id}`, tool, running: tool.result === undefined && !!live }
  }

  messages.forEach((message, index) => {
    if (message.role === 'user') {
      items.push({ kind: 'user', key: message.id, message })
    } else if (message.role === 'assistant') {
      const calls = storedCalls(message)
      if (message.content.trim() || message.status !== 'complete' || !calls.length) {
        const next = messages[index + 1]
        const final = !calls.length && (!next || next.role === 'user')
        items.push({ kind: 'assistant', key: message.id, content: message.content, message, final })
      }
      for (const call of calls) items.push(toolItem(call))
    }
  })

  if (live) {
    for (const call of live.calls) if (!shown.has(call.id)) items.push(toolItem(call))
    if (live.text || live.reasoning) {
      items.push({ kind: 'assistant', key: 'live', content: live.text, message: null, final: false, reasoning: live.reasoning })
    }
  }
  return items
}

/** The prompt an answer replied to (for regenerate). */
export function promptBefore(messages: readonly Message[], messageId: string): Message | null {
  const index = messages.findIndex((m) => m.id === messageId)
  for (let i = index - 1; i >= 0; i--) {
    const message = messages[i]
    if (message?.role === 'user') return message
  }
  return null
}
