// The end-to-end run: Debian's Chromium (through playwright-core) against the real agentbox
// binary and the real tiny test model. Setup → login → a chat answer streams → a tool card
// shows → a rating is saved → analytics count the request; then every page is visited and
// photographed (e2e/screenshots/, git-ignored) at desktop and phone width, checked for page
// errors and unnamed controls, and the chat page's first contentful paint is printed.
//
//   AGENTBOX_BIN=…/release/agentbox AGENTBOX_TEST_MODEL=…/model.gguf node e2e/run.mjs
import { mkdirSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import { startAgentbox, startPreview } from './server.mjs'
import { firstContentfulPaint, streamedStates, unnamedControls, watchStreaming } from './page-checks.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const shots = join(here, 'screenshots')
const binary = process.env.AGENTBOX_BIN
const model = process.env.AGENTBOX_TEST_MODEL
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium'
if (!binary || !model) {
  console.error('set AGENTBOX_BIN (the agentbox binary) and AGENTBOX_TEST_MODEL (scripts/fetch-test-model.sh prints it)')
  process.exit(2)
}

// The sample company the setup page preselects: the admin joins it without typing its name.
const ADMIN = { name: 'Ada Admin', company: 'Acme Manufacturing', email: 'ada@acme.example', password: 'correct horse battery staple' }
// Agents made for the run: the tiny model answers a tool-less agent in streamed text; the KPI
// agent's first step must call list_kpis (a 135M model asked in words answers in words), and
// the grammar holds that call to the tool's schema.
const AGENTS = [
  {
    name: 'e2e-writer',
    description: 'Writes short notes.',
    tools: '',
    maxSteps: '1',
    prompt: 'You write short, friendly notes.',
  },
  {
    name: 'e2e-kpis',
    description: 'Lists the company KPIs.',
    tools: 'list_kpis',
    firstStep: 'list_kpis',
    maxSteps: '3',
    prompt: 'You answer questions about KPIs by calling the list_kpis tool.',
  },
]
const MODEL_SECONDS = 300

const results = []
async function check(name, body) {
  const started = Date.now()
  try {
    await body()
    results.push({ name, ok: true })
    console.log(`ok    ${name} (${Date.now() - started} ms)`)
  } catch (error) {
    results.push({ name, ok: false })
    console.log(`FAIL  ${name}: ${error.stack ?? error}`)
    // What the page showed when it failed.
    await page.screenshot({ path: join(shots, `FAIL-${results.length}.png`), fullPage: true }).catch(() => {})
  }
}

function expect(condition, message) {
  if (!condition) throw new Error(message)
}

rmSync(shots, { recursive: true, force: true })
mkdirSync(shots, { recursive: true })
const server = await startAgentbox({ binary, model })
const preview = process.env.E2E_VITE_PREVIEW === '1' ? await startPreview(server.url) : null
const baseURL = preview?.url ?? server.url
const browser = await chromium.launch({
  executablePath: chromiumPath,
  args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-gpu'],
})
const context = await browser.newContext({ viewport: { width: 1366, height: 860 }, colorScheme: 'light', baseURL })
const page = await context.newPage()
const pageErrors = []
page.on('pageerror', (error) => pageErrors.push(error.message))
page.on('console', (message) => {
  // A refused request logs "Failed to load resource"; the pages handle those themselves.
  if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) pageErrors.push(message.text())
})
page.setDefaultTimeout(20_000)

async function shoot(name, target = page) {
  await target.waitForTimeout(300)
  await target.screenshot({ path: join(shots, `${name}.png`), fullPage: true })
}

async function visit(path, name, ready) {
  await page.goto(path)
  await ready()
  const problems = await unnamedControls(page)
  expect(!problems.length, `${path}: ${problems.join('; ')}`)
  await shoot(name)
}

let fcp = null
try {
  await check('first run: the setup page creates the admin and signs them in', async () => {
    await page.goto('/')
    await page.waitForURL('**/setup')
    await page.getByLabel('Your name').fill(ADMIN.name)
    // Started with sample data: the page offers the sample companies, the first preselected.
    const join = page.getByRole('radio', { name: `Join ${ADMIN.company}` })
    expect(await join.isChecked(), `"Join ${ADMIN.company}" is not preselected`)
    await page.locator('label', { hasText: 'Start a new company' }).click()
    await page.getByLabel('New company name').waitFor()
    await page.locator('label', { hasText: `Join ${ADMIN.company}` }).click()
    expect(await join.isChecked(), `"Join ${ADMIN.company}" cannot be chosen again`)
    expect((await page.getByLabel('New company name').count()) === 0, 'the new company name shows while joining')
    await page.getByLabel('Email').fill(ADMIN.email)
    await page.getByLabel('Password', { exact: true }).fill(ADMIN.password)
    await page.getByLabel('Confirm password').fill(ADMIN.password)
    expect(!(await unnamedControls(page)).length, 'setup page has unnamed controls')
    await shoot('01-setup')
    await page.getByRole('button', { name: 'Create admin and continue' }).click()
    await page.waitForURL('**/chat')
  })

  await check('sign out, then sign in again with the login page', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click()
    await page.waitForURL('**/login')
    await page.getByLabel('Email').fill(ADMIN.email)
    await page.getByLabel('Password').fill('not the password')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.getByText('That email and password do not match').waitFor()
    await page.getByLabel('Password').fill(ADMIN.password)
    await shoot('02-login')
    await page.getByRole('button', { name: 'Sign in' }).click()
    await page.waitForURL('**/chat')
  })

  await check('the chat page paints fast (first contentful paint)', async () => {
    const fresh = await context.newPage()
    await fresh.goto('/chat')
    fcp = await firstContentfulPaint(fresh)
    await fresh.getByRole('heading', { name: 'What can I help with?' }).waitFor()
    await fresh.close()
    expect(fcp > 0, 'no first-contentful-paint entry')
  })

  await check('admins create agents with the agent editor', async () => {
    for (const agent of AGENTS) {
      await page.goto('/admin/agents')
      await page.getByRole('heading', { name: 'analyst' }).waitFor()
      await page.getByRole('button', { name: 'New agent' }).click()
      const dialog = page.getByRole('dialog')
      await dialog.getByLabel('Name', { exact: true }).fill(agent.name)
      await dialog.getByLabel('Description').fill(agent.description)
      await dialog.getByLabel('Model role').selectOption('reasoning')
      await dialog.getByLabel('Tools').fill(agent.tools)
      if (agent.firstStep) await dialog.getByLabel('First step').selectOption(agent.firstStep)
      await dialog.getByLabel('Max steps').fill(agent.maxSteps)
      await dialog.getByLabel('Temperature').fill('0')
      await dialog.getByLabel('Instructions (system prompt)').fill(agent.prompt)
      if (agent === AGENTS[0]) await shoot('03-agent-editor')
      await dialog.getByRole('button', { name: 'Save agent' }).click()
      await page.getByRole('heading', { name: agent.name }).waitFor()
    }
  })

  await check('a chat answer streams token by token on the real model', async () => {
    await page.goto('/chat')
    await page.getByRole('heading', { name: 'What can I help with?' }).waitFor()
    await shoot('04-chat-new')
    await page.getByLabel('Agent').selectOption('e2e-writer')
    await watchStreaming(page)
    await page.getByLabel('Message').fill('Write a short note thanking the team for a good quarter.')
    await page.getByLabel('Message').press('Enter')
    await page.waitForURL(/\/chat\/[0-9a-f-]{36}$/)
    await page.getByRole('button', { name: 'Good answer' }).waitFor({ timeout: MODEL_SECONDS * 1000 })
    const states = await streamedStates(page)
    expect(states >= 3, `the answer appeared at once (${states} streamed states): it did not stream`)
    await shoot('05-chat-answer')
  })

  await check('a rating is saved and survives a reload', async () => {
    const saved = page.waitForResponse((r) => r.url().includes('/rating') && r.request().method() === 'PUT')
    await page.getByRole('button', { name: 'Good answer' }).click()
    expect((await saved).ok(), 'the rating was refused')
    await page.getByPlaceholder('Add a comment').fill('Warm and short')
    const commented = page.waitForResponse((r) => r.url().includes('/rating') && r.request().method() === 'PUT')
    await page.getByRole('button', { name: 'Save' }).click()
    expect((await commented).ok(), 'the comment was refused')
    await page.reload()
    const pressed = await page.getByRole('button', { name: 'Good answer' }).getAttribute('aria-pressed')
    expect(pressed === 'true', `after a reload the rating shows aria-pressed=${pressed}`)
  })

  await check('regenerate asks again, and Stop ends the answer, keeping what was written', async () => {
    await page.getByRole('button', { name: 'Regenerate' }).click()
    await page.locator('article[aria-busy="true"]').waitFor({ timeout: MODEL_SECONDS * 1000 })
    await page.getByRole('button', { name: 'Stop' }).click()
    await page.getByText('Stopped', { exact: true }).waitFor({ timeout: 60_000 })
    const prompts = await page.locator('.prompt-text', { hasText: 'Write a short note thanking' }).count()
    expect(prompts === 2, `the prompt shows ${prompts} times, not twice`)
    await shoot('05-chat-stopped')
  })

  await check('a tool call shows as a card with its arguments and result', async () => {
    await page.getByRole('link', { name: 'New chat' }).click()
    await page.getByRole('heading', { name: 'What can I help with?' }).waitFor()
    await page.getByLabel('Agent').selectOption('e2e-kpis')
    await page.getByLabel('Message').fill('Which KPIs do we track?')
    await page.getByLabel('Message').press('Enter')
    const card = page.getByTestId('tool-card').first()
    await card.waitFor({ timeout: MODEL_SECONDS * 1000 })
    await card.getByText('list_kpis', { exact: true }).waitFor()
    await page.getByRole('button', { name: 'Send' }).waitFor({ timeout: MODEL_SECONDS * 1000 })
    await card.getByRole('button').click()
    await card.getByText('Result').waitFor()
    await shoot('06-chat-tool-card')
  })

  await check('the session list searches and renames', async () => {
    await page.getByLabel('Search conversations').fill('thanking')
    await page.getByRole('list', { name: 'Conversations' }).getByRole('link').first().waitFor()
    await page.getByRole('list', { name: 'Conversations' }).getByRole('listitem').first().hover()
    await page.getByRole('button', { name: /^Rename / }).first().click()
    await page.getByLabel('New title').fill('Thank-you note')
    await page.getByLabel('New title').press('Enter')
    await page.getByRole('link', { name: /Thank-you note/ }).waitFor()
    await page.getByLabel('Search conversations').fill('')
  })

  await check('the analytics page shows the request, its model and the rating', async () => {
    await visit('/analytics', '07-analytics', async () => {
      await page.getByRole('heading', { name: 'Latency per model' }).waitFor()
    })
    const requests = await page.locator('.ui-stat', { hasText: 'Requests' }).locator('.ui-stat-value').innerText()
    expect(Number(requests.replace(/\D/g, '')) >= 1, `Requests shows ${requests}`)
    await page.getByRole('table', { name: 'Usage per model' }).getByText('SmolLM2-135M-Instruct.Q4_1').waitFor()
    await page.locator('section', { hasText: 'Ratings per agent' }).getByText('e2e-writer').waitFor()
  })

  await check('a task runs live and can be cancelled', async () => {
    await page.goto('/tasks')
    await page.getByRole('button', { name: 'Queue the first task' }).click()
    await page.getByLabel('Agent').selectOption('e2e-writer')
    await page.getByLabel('What should it do?').fill('Write a two-line summary of the quarter for the team.')
    await page.getByRole('button', { name: 'Queue task' }).click()
    await page.waitForURL(/\/tasks\/[0-9a-f-]{36}$/)
    await page.getByRole('progressbar', { name: 'Progress of the task' }).waitFor()
    await page.locator('.ui-badge', { hasText: /^(succeeded|failed)$/ }).first().waitFor({ timeout: MODEL_SECONDS * 1000 })
    await shoot('08-task-done')
    await page.getByRole('button', { name: 'New task' }).click()
    await page.getByLabel('What should it do?').fill('Compare every KPI with its target for this year.')
    await page.getByRole('button', { name: 'Queue task' }).click()
    await page.waitForURL(/\/tasks\/[0-9a-f-]{36}$/)
    await page.getByRole('button', { name: 'Cancel' }).click()
    await page.getByRole('main').locator('.ui-badge', { hasText: /^cancelled$/ }).first().waitFor({ timeout: 60_000 })
    await visit('/tasks', '09-tasks', () => page.getByRole('list', { name: 'Tasks' }).waitFor())
  })

  await check('the KPI dashboard charts actual against target', async () => {
    await visit('/kpis', '10-kpis', async () => {
      await page.getByRole('table', { name: 'Actual against target per KPI' }).waitFor()
      await page.locator('svg[role="img"]').first().waitFor()
    })
    await page.getByLabel('Department').selectOption({ index: 1 })
    await page.getByRole('table', { name: 'Actual against target per KPI' }).waitFor()
  })

  await check('admin pages: users, agents, models, MCP servers, API keys', async () => {
    await visit('/admin/users', '11-users', () => page.getByRole('table', { name: 'Users' }).getByText(ADMIN.email).waitFor())
    await page.getByRole('button', { name: 'Add user' }).click()
    await page.getByRole('dialog').getByLabel('Email').fill('bob@acme.example')
    await page.getByRole('dialog').getByLabel('Password').fill('another long passphrase')
    await page.getByRole('dialog').getByRole('button', { name: 'Add user' }).click()
    await page.getByRole('table', { name: 'Users' }).getByText('bob@acme.example').waitFor()

    await visit('/admin/agents', '12-agents', () => page.getByRole('heading', { name: 'e2e-kpis' }).waitFor())
    await page.locator('section', { hasText: 'Writes short notes.' }).getByRole('button', { name: 'Try' }).click()
    await page.getByRole('dialog').getByLabel('Prompt').fill('Say hello to the team.')
    await page.getByRole('dialog').getByRole('button', { name: 'Run' }).click()
    await page.getByRole('dialog').getByRole('link', { name: 'Continue in chat' }).waitFor({ timeout: MODEL_SECONDS * 1000 })
    await shoot('12-agent-try')
    await page.getByRole('dialog').getByRole('button', { name: 'Done' }).click()

    await visit('/admin/models', '13-models', () => page.getByRole('table', { name: 'Models' }).getByText('SmolLM2-135M-Instruct.Q4_1').waitFor())
    const models = page.getByRole('table', { name: 'Models' })
    await models.getByRole('button', { name: 'Unload' }).click()
    await page.getByText('unloaded; its memory is free').waitFor()
    await models.getByRole('button', { name: 'Load', exact: true }).click()
    await page.getByText(/SmolLM2-135M-Instruct.Q4_1 loaded/).waitFor({ timeout: 60_000 })
    await models.getByRole('button', { name: 'Download' }).click()
    await page.getByRole('progressbar', { name: 'Download of e2e-pull' }).waitFor()
    await shoot('13-models-pulling')
    await page.getByText('e2e-pull downloaded and verified.').waitFor({ timeout: 120_000 })
    await models.locator('tr', { hasText: 'e2e-pull' }).getByText('On disk').waitFor()
    await visit('/admin/mcp', '14-mcp', () => page.getByRole('heading', { name: 'MCP servers', exact: true }).waitFor())

    await visit('/keys', '15-keys', () => page.getByRole('heading', { name: 'API keys', exact: true }).waitFor())
    await page.getByRole('button', { name: 'Create key' }).first().click()
    await page.getByLabel('Name').fill('Reporting script')
    await page.getByRole('dialog').getByRole('button', { name: 'Create key' }).click()
    const secret = await page.getByTestId('new-key').innerText()
    expect(secret.startsWith('abx_'), `the new key reads ${secret}`)
    const me = await fetch(`${server.url}/api/v1/me`, { headers: { Authorization: `Bearer ${secret}` } })
    expect(me.ok, `the new key was refused: ${me.status}`)
    await shoot('16-key-created')
    await page.getByRole('button', { name: 'Done' }).click()
  })

  await check('unknown pages get the app’s not-found page; API paths keep JSON 404s', async () => {
    await visit('/no/such/page', '17-not-found', () => page.getByRole('heading', { name: 'Nothing here' }).waitFor())
    const api = await fetch(`${server.url}/api/v1/no-such-route`)
    expect(api.status === 404 && (await api.json()).code === 'not_found', 'the API answered a missing route with the UI')
  })

  await check('phone width (375 px) and the dark theme', async () => {
    const phone = await browser.newContext({ viewport: { width: 375, height: 812 }, colorScheme: 'dark', baseURL, storageState: await context.storageState() })
    const small = await phone.newPage()
    for (const [path, name, ready] of [
      ['/chat', '20-phone-chat', () => small.getByRole('heading', { name: 'What can I help with?' }).waitFor()],
      ['/kpis', '21-phone-kpis', () => small.getByRole('table', { name: 'Actual against target per KPI' }).waitFor()],
      ['/analytics', '22-phone-analytics', () => small.getByRole('heading', { name: 'Latency per model' }).waitFor()],
      ['/tasks', '23-phone-tasks', () => small.getByRole('list', { name: 'Tasks' }).waitFor()],
    ]) {
      await small.goto(path)
      await ready()
      await shoot(name, small)
      const wide = await small.evaluate(() =>
        [...document.querySelectorAll('body *')]
          .filter((el) => el.getBoundingClientRect().right > document.documentElement.clientWidth + 1 && el.getClientRects().length)
          .slice(0, 5)
          .map((el) => `${el.tagName.toLowerCase()}.${[...el.classList].join('.')} (${Math.round(el.getBoundingClientRect().right)} px)`),
      )
      const overflow = await small.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)
      expect(overflow <= 0, `${path} scrolls sideways by ${overflow} px at 375 px: ${wide.join(', ')}`)
    }
    await small.getByRole('button', { name: 'Open navigation' }).click()
    await small.getByRole('link', { name: 'Analytics' }).waitFor()
    await shoot('24-phone-navigation', small)
    await phone.close()
  })

  await check('no page errors', async () => {
    expect(!pageErrors.length, pageErrors.join('\n'))
  })
} finally {
  await browser.close()
  preview?.stop()
  const failed = results.filter((r) => !r.ok).length
  if (failed) console.log(`\nagentbox log (tail):\n${server.logTail()}`)
  await server.stop()
  console.log(`\nFirst contentful paint of /chat: ${fcp === null ? 'not measured' : `${Math.round(fcp)} ms`}`)
  console.log(`Screenshots: ${shots}`)
  console.log(`e2e: ${results.length - failed} passed, ${failed} failed`)
  process.exitCode = failed ? 1 : 0
}
