// Checks run inside a page: controls without an accessible name, form fields without a label,
// and the first contentful paint.

/** Descriptions of the controls a screen reader could not name. */
export function unnamedControls(page) {
  return page.evaluate(() => {
    const problems = []
    const visible = (el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden'
    const named = (el) =>
      (el.getAttribute('aria-label') || '').trim() ||
      (el.getAttribute('aria-labelledby') || '').trim() ||
      (el.textContent || '').trim() ||
      (el.getAttribute('title') || '').trim()
    for (const el of document.querySelectorAll('button, a[href], [role="button"], [role="radio"]')) {
      if (visible(el) && !named(el)) problems.push(`${el.tagName.toLowerCase()} without a name: ${el.outerHTML.slice(0, 120)}`)
    }
    for (const el of document.querySelectorAll('input, select, textarea')) {
      if (el.type === 'hidden' || !visible(el)) continue
      const labelled =
        (el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`)) ||
        el.closest('label') ||
        el.getAttribute('aria-label') ||
        el.getAttribute('aria-labelledby')
      if (!labelled) problems.push(`${el.tagName.toLowerCase()} without a label: ${el.outerHTML.slice(0, 120)}`)
    }
    if (document.querySelectorAll('h1').length !== 1) problems.push(`${document.querySelectorAll('h1').length} h1 headings (want 1)`)
    return problems
  })
}

/** The first contentful paint of the page's navigation, in milliseconds. */
export async function firstContentfulPaint(page) {
  await page.waitForFunction(() => performance.getEntriesByType('paint').some((e) => e.name === 'first-contentful-paint'))
  return page.evaluate(() => performance.getEntriesByType('paint').find((e) => e.name === 'first-contentful-paint').startTime)
}

/** Starts counting the distinct states of the answer being streamed (see streamedStates). */
export function watchStreaming(page) {
  return page.evaluate(() => {
    window.__streamStates = new Set()
    const observer = new MutationObserver(() => {
      const live = document.querySelector('article[aria-busy="true"]')
      if (live) window.__streamStates.add(live.textContent.length)
    })
    observer.observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true })
  })
}

export function streamedStates(page) {
  return page.evaluate(() => window.__streamStates.size)
}
