import { describe, expect, it } from 'vitest'
import { renderMarkdown } from './markdown'

describe('renderMarkdown', () => {
  it('escapes raw HTML and drops dangerous links', () => {
    const html = renderMarkdown('<script>alert(1)</script> <img src=x onerror=alert(1)> [x](javascript:alert(1))')
    expect(html).not.toContain('<script')
    expect(html).not.toContain('<img')
    expect(html).not.toContain('href="javascript:')
  })

  it('highlights known languages and adds a copy button', () => {
    const html = renderMarkdown('```rust\nfn main() {}\n```')
    expect(html).toContain('class="code-block"')
    expect(html).toContain('data-copy-code')
    expect(html).toContain('hljs-keyword')
  })

  it('escapes code in unknown languages', () => {
    expect(renderMarkdown('```brainfun\n<b>x</b>\n```')).toContain('&lt;b&gt;')
  })

  it('opens links in a new tab without an opener', () => {
    expect(renderMarkdown('[docs](https://example.com)')).toMatch(/target="_blank"[^>]*rel="noopener noreferrer"|rel="noopener noreferrer"[^>]*target="_blank"/)
  })
})
