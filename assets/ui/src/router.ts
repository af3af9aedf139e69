import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router'
import { useAuth } from '@/stores/auth'

declare module 'vue-router' {
  interface RouteMeta {
    /** Shown in the tab title. */
    title?: string
    /** Reachable without signing in (setup, login). */
    public?: boolean
    /** Only for admins. */
    admin?: boolean
  }
}

// Every page is its own chunk: the login page does not download the chat's markdown renderer.
const routes: RouteRecordRaw[] = [
  { path: '/', redirect: '/chat' },
  { path: '/setup', component: () => import('@/pages/setup/SetupPage.vue'), meta: { public: true, title: 'Set up' } },
  { path: '/login', component: () => import('@/pages/login/LoginPage.vue'), meta: { public: true, title: 'Sign in' } },
  {
    path: '/',
    component: () => import('@/components/layout/AppShell.vue'),
    children: [
      { path: 'chat/:id?', name: 'chat', component: () => import('@/pages/chat/ChatPage.vue'), meta: { title: 'Chat' } },
      { path: 'tasks/:id?', name: 'tasks', component: () => import('@/pages/tasks/TasksPage.vue'), meta: { title: 'Tasks' } },
      { path: 'kpis', component: () => import('@/pages/kpis/KpisPage.vue'), meta: { title: 'KPIs' } },
      { path: 'analytics', component: () => import('@/pages/analytics/AnalyticsPage.vue'), meta: { title: 'Analytics' } },
      { path: 'keys', component: () => import('@/pages/keys/KeysPage.vue'), meta: { title: 'API keys' } },
      { path: 'admin/users', component: () => import('@/pages/admin/users/UsersPage.vue'), meta: { title: 'Users', admin: true } },
      { path: 'admin/agents', component: () => import('@/pages/admin/agents/AgentsPage.vue'), meta: { title: 'Agents', admin: true } },
      { path: 'admin/models', component: () => import('@/pages/admin/models/ModelsPage.vue'), meta: { title: 'Models', admin: true } },
      { path: 'admin/mcp', component: () => import('@/pages/admin/mcp/McpPage.vue'), meta: { title: 'MCP servers', admin: true } },
      { path: ':path(.*)*', component: () => import('@/pages/not-found/NotFoundPage.vue'), meta: { title: 'Not found' } },
    ],
  },
]

export function createAppRouter() {
  const router = createRouter({ history: createWebHistory(), routes })

  router.beforeEach(async (to) => {
    const auth = useAuth()
    try {
      await auth.load()
    } catch {
      // The server is unreachable: let the page render and show its own error.
      return true
    }
    if (auth.setupNeeded) return to.path === '/setup' ? true : '/setup'
    if (to.path === '/setup') return auth.user ? '/chat' : '/login'
    if (!auth.user) return to.meta.public ? true : { path: '/login', query: to.fullPath === '/' ? {} : { next: to.fullPath } }
    if (to.path === '/login') return '/chat'
    if (to.meta.admin && !auth.isAdmin) return '/chat'
    return true
  })

  router.afterEach((to) => {
    document.title = to.meta.title ? `${to.meta.title} · agentbox` : 'agentbox'
  })

  return router
}
