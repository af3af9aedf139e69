import { defineStore } from 'pinia'
import { computed, ref, shallowRef } from 'vue'
import { api, call, type Schemas } from '@/api/client'
import { postEvents } from '@/api/sse'
import { ApiError } from '@/api/errors'
import { buildItems, completeCall, emptyRun, streamCall, type LiveRun, type Message } from '@/pages/chat/conversation'

export type ChatSession = Schemas['ChatSession']
export type Agent = Schemas['ListedAgent']
export type RunSummary = Schemas['RunSummary']

const AUTO = 'auto'
/** How long the stopped answer is waited for: 25 refreshes, 200 ms apart. */
const STOPPED_ANSWER_POLLS = 25
const STOPPED_ANSWER_PAUSE_MS = 200

/** Sessions, the open conversation, and the answer being streamed into it. */
export const useChat = defineStore('chat', () => {
  const sessions = ref<ChatSession[]>([])
  const sessionsLoaded = ref(false)
  const query = ref('')
  const agents = ref<Agent[]>([])
  const current = ref<ChatSession | null>(null)
  const messages = ref<Message[]>([])
  const live = shallowRef<LiveRun | null>(null)
  const runError = ref<{ code: string; message: string } | null>(null)
  const lastRun = ref<RunSummary | null>(null)
  /** The agent for the next message: `auto` or a name. */
  const agent = ref(AUTO)
  let controller: AbortController | null = null

  const streaming = computed(() => live.value !== null)
  const items = computed(() => buildItems(messages.value, live.value))

  async function loadSessions() {
    const q = query.value.trim()
    sessions.value = await call(api.GET('/api/v1/sessions', { params: { query: { q: q || undefined, limit: 100 } } }))
    sessionsLoaded.value = true
    // The server titles a session after its first answer: show the new title in the header too.
    const fresh = sessions.value.find((s) => s.id === current.value?.id)
    if (fresh && current.value && fresh.title !== current.value.title) current.value = { ...current.value, title: fresh.title }
  }

  async function loadAgents() {
    const list = await call(api.GET('/api/v1/agents'))
    agents.value = list.agents.filter((a) => a.enabled)
  }

  function reset() {
    stop()
    current.value = null
    messages.value = []
    runError.value = null
    lastRun.value = null
  }

  async function open(id: string) {
    if (current.value?.id === id) return
    reset()
    const [detail, page] = await Promise.all([
      call(api.GET('/api/v1/sessions/{id}', { params: { path: { id } } })),
      call(api.GET('/api/v1/sessions/{id}/messages', { params: { path: { id }, query: { limit: 200 } } })),
    ])
    current.value = detail
    messages.value = page
    agent.value = detail.agent
  }

  async function refreshMessages() {
    if (!current.value) return
    const id = current.value.id
    const page = await call(api.GET('/api/v1/sessions/{id}/messages', { params: { path: { id }, query: { limit: 200 } } }))
    if (current.value?.id === id) messages.value = page
  }

  async function create(): Promise<ChatSession> {
    const session = await call(api.POST('/api/v1/sessions', { body: { agent: agent.value } }))
    sessions.value = [session, ...sessions.value]
    current.value = session
    messages.value = []
    return session
  }

  function upsert(message: Message) {
    const index = messages.value.findIndex((m) => m.id === message.id)
    if (index >= 0) messages.value.splice(index, 1, message)
    else messages.value.push(message)
  }

  function onEvent(event: string, data: unknown) {
    const run = live.value
    if (!run) return
    switch (event) {
      case 'message': {
        const message = data as Message
        upsert(message)
        // The stored turn now holds the streamed text and the announced calls.
        if (message.role === 'assistant') live.value = { ...run, text: '', reasoning: '', calls: [] }
        break
      }
      case 'token':
        live.value = { ...run, text: run.text + (data as Schemas['TokenData']).text }
        break
      case 'reasoning':
        live.value = { ...run, reasoning: run.reasoning + (data as Schemas['TokenData']).text }
        break
      case 'tool_call_delta':
        live.value = { ...run, calls: streamCall(run.calls, data as Schemas['ToolCallDeltaData'], (call) => call) }
        break
      case 'tool_call':
        live.value = { ...run, calls: completeCall(run.calls, data as Schemas['ToolCallData'], (call) => call) }
        break
      case 'tool_result': {
        const result = data as Schemas['ToolResultData']
        live.value = { ...run, results: { ...run.results, [result.id]: { result: result.result, error: result.error } } }
        break
      }
      case 'error':
        runError.value = data as { code: string; message: string }
        break
      case 'done':
        lastRun.value = data as RunSummary
        break
    }
  }

  /** Sends a message and streams the answer; creates the session first when none is open. */
  async function send(content: string): Promise<void> {
    const text = content.trim()
    if (!text || streaming.value) return
    const session = current.value ?? (await create())
    runError.value = null
    lastRun.value = null
    live.value = emptyRun()
    const run = new AbortController()
    controller = run
    const body: Schemas['SendMessageBody'] = { content: text }
    if (agent.value !== session.agent) body.agent = agent.value
    try {
      await postEvents(`/api/v1/sessions/${session.id}/messages`, body, onEvent, run.signal)
    } catch (error) {
      runError.value =
        error instanceof ApiError ? { code: error.code, message: error.message } : { code: 'failed', message: String(error) }
    } finally {
      live.value = null
      controller = null
    }
    // The stored turns are the truth (an interrupted answer was stored as such).
    if (run.signal.aborted) await refreshUntilAnswered(session.id).catch(() => {})
    else await refreshMessages().catch(() => {})
    void loadSessions().catch(() => {})
  }

  /**
   * After Stop, the server stores the interrupted answer once it notices the closed stream, a
   * moment after the browser closed it: refresh until the last turn is that answer (a few
   * seconds at most), unless another session was opened meanwhile.
   */
  async function refreshUntilAnswered(sessionId: string) {
    for (let attempt = 0; attempt < STOPPED_ANSWER_POLLS; attempt++) {
      if (current.value?.id !== sessionId) return
      await refreshMessages()
      if (messages.value.at(-1)?.role === 'assistant') return
      await new Promise((resolve) => setTimeout(resolve, STOPPED_ANSWER_PAUSE_MS))
    }
  }

  /** Stops the answer: closing the stream makes the server stop the model and store the text. */
  function stop() {
    controller?.abort()
  }

  async function regenerate(answerId: string) {
    const index = messages.value.findIndex((m) => m.id === answerId)
    for (let i = index - 1; i >= 0; i--) {
      const message = messages.value[i]
      if (message?.role === 'user') return send(message.content)
    }
  }

  async function rate(messageId: string, rating: 'up' | 'down' | null, comment?: string) {
    const path = { id: messageId }
    if (rating === null) await call(api.DELETE('/api/v1/messages/{id}/rating', { params: { path } }))
    else
      await call(
        api.PUT('/api/v1/messages/{id}/rating', { params: { path }, body: { rating, comment: comment || null } }),
      )
    const message = messages.value.find((m) => m.id === messageId)
    if (message) upsert({ ...message, rating: rating === null ? null : rating === 'up' ? 1 : -1, rating_comment: comment || null })
  }

  async function rename(id: string, title: string) {
    const session = await call(api.PATCH('/api/v1/sessions/{id}', { params: { path: { id } }, body: { title } }))
    sessions.value = sessions.value.map((s) => (s.id === id ? session : s))
    if (current.value?.id === id) current.value = { ...current.value, title: session.title }
  }

  async function remove(id: string) {
    await call(api.DELETE('/api/v1/sessions/{id}', { params: { path: { id } } }))
    sessions.value = sessions.value.filter((s) => s.id !== id)
    if (current.value?.id === id) reset()
  }

  return {
    sessions,
    sessionsLoaded,
    query,
    agents,
    current,
    messages,
    live,
    runError,
    lastRun,
    agent,
    streaming,
    items,
    loadSessions,
    loadAgents,
    reset,
    open,
    send,
    stop,
    regenerate,
    rate,
    rename,
    remove,
  }
})
