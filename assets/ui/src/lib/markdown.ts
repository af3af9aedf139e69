// Markdown for chat answers: markdown-it (raw HTML off, so model output cannot inject markup),
// highlight.js core with the languages agents write most, and DOMPurify over the result as a
// second line of defence. Code blocks get a header with the language and a copy button; the
// button works through one delegated click handler (see copyCodeFromClick).
import MarkdownIt, { type MarkdownIt as MarkdownItInstance } from 'markdown-it'
import DOMPurify from 'dompurify'
import hljs from 'highlight.js/lib/core'
import bash from 'highlight.js/lib/languages/bash'
import css from 'highlight.js/lib/languages/css'
import diff from 'highlight.js/lib/languages/diff'
import go from 'highlight.js/lib/languages/go'
import javascript from 'highlight.js/lib/languages/javascript'
import json from 'highlight.js/lib/languages/json'
import python from 'highlight.js/lib/languages/python'
import rust from 'highlight.js/lib/languages/rust'
import sql from 'highlight.js/lib/languages/sql'
import typescript from 'highlight.js/lib/languages/typescript'
import xml from 'highlight.js/lib/languages/xml'
import yaml from 'highlight.js/lib/languages/yaml'

const languages = { bash, css, diff, go, javascript, json, python, rust, sql, typescript, xml, yaml }
for (const [name, language] of Object.entries(languages)) hljs.registerLanguage(name, language)
const aliases: Record<string, string> = { sh: 'bash', shell: 'bash', js: 'javascript', ts: 'typescript', py: 'python', rs: 'rust', html: 'xml', yml: 'yaml' }

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

const md: MarkdownItInstance = new MarkdownIt({ html: false, linkify: true, breaks: false, typographer: false })

md.renderer.rules.fence = (tokens, index) => {
  const token = tokens[index]
  if (!token) return ''
  const requested = token.info.trim().split(/\s+/)[0]?.toLowerCase() ?? ''
  const language = aliases[requested] ?? requested
  const code = token.content
  const body =
    language && hljs.getLanguage(language)
      ? hljs.highlight(code, { language, ignoreIllegals: true }).value
      : escapeHtml(code)
  const label = escapeHtml(requested || 'text')
  return (
    `<div class="code-block"><div class="code-block-header"><span>${label}</span>` +
    `<button type="button" class="code-copy" data-copy-code aria-label="Copy code">Copy</button></div>` +
    `<pre><code class="hljs">${body}</code></pre></div>`
  )
}

const defaultLink = md.renderer.rules.link_open ?? ((tokens, index, options, _env, self) => self.renderToken(tokens, index, options))
md.renderer.rules.link_open = (tokens, index, options, env, self) => {
  const token = tokens[index]
  token?.attrSet('target', '_blank')
  token?.attrSet('rel', 'noopener noreferrer')
  return defaultLink(tokens, index, options, env, self)
}

/** Safe HTML for a markdown text. */
export function renderMarkdown(text: string): string {
  return DOMPurify.sanitize(md.render(text), {
    ADD_ATTR: ['target', 'data-copy-code'],
    FORBID_TAGS: ['style', 'form', 'input', 'img'],
  })
}

/** Handles a click inside rendered markdown: copies the code block whose button was pressed. */
export async function copyCodeFromClick(event: MouseEvent): Promise<boolean> {
  const button = (event.target as Element | null)?.closest?.('[data-copy-code]')
  if (!(button instanceof HTMLElement)) return false
  const code = button.closest('.code-block')?.querySelector('code')?.textContent ?? ''
  await navigator.clipboard.writeText(code)
  button.textContent = 'Copied'
  setTimeout(() => {
    button.textContent = 'Copy'
  }, 1500)
  return true
}
