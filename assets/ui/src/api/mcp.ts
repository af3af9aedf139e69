// The MCP server admin API (/api/v1/mcp/servers), typed from the OpenAPI snapshot.
import { failed, requestHeaders, type Schemas } from './client'
import { ApiError, NETWORK_MESSAGE } from './errors'

export type McpConnectionState = Schemas['McpConnectionState']
export type McpToolInfo = Schemas['McpToolInfo']
export type McpConnectionStatus = Schemas['McpConnectionStatus']
export type McpServerView = Schemas['McpServerView']
export type McpServerInput = Schemas['McpServerInput']

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  let response: Response
  try {
    response = await fetch(`/api/v1/mcp/servers${path}`, {
      method,
      credentials: 'same-origin',
      headers: { ...requestHeaders(method), ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
  } catch {
    throw new ApiError(0, 'network', NETWORK_MESSAGE)
  }
  const parsed: unknown = response.status === 204 ? null : await response.json().catch(() => null)
  if (!response.ok) throw failed(response.status, parsed)
  return parsed as T
}

const one = (name: string) => `/${encodeURIComponent(name)}`

export const mcp = {
  list: () => request<McpServerView[]>('GET', ''),
  create: (input: McpServerInput) => request<McpServerView>('POST', '', input),
  replace: (name: string, input: McpServerInput) => request<McpServerView>('PUT', one(name), input),
  remove: (name: string) => request<null>('DELETE', one(name)),
  restart: (name: string) => request<McpServerView>('POST', `${one(name)}/restart`),
}
