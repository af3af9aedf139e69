import { describe, expect, it } from 'vitest'
import { mount } from '@vue/test-utils'
import ToolCallCard from '@/components/chat/ToolCallCard.vue'

describe('ToolCallCard', () => {
  it('summarises the call and expands to arguments and result', async () => {
    const wrapper = mount(ToolCallCard, {
      props: { tool: { id: 'c1', name: 'kpi_vs_target', arguments: { period: 'last_quarter' }, result: { missed: ['Sales'] }, error: false } },
    })
    const head = wrapper.get('button')
    expect(head.text()).toContain('kpi_vs_target')
    expect(head.text()).toContain('period: last_quarter')
    expect(head.attributes('aria-expanded')).toBe('false')
    expect(wrapper.text()).not.toContain('Result')

    await head.trigger('click')
    expect(head.attributes('aria-expanded')).toBe('true')
    const panel = wrapper.get(`#${head.attributes('aria-controls')}`)
    expect(panel.text()).toContain('Result')
    expect(panel.text()).toContain('"Sales"')
  })

  it('shows a failed call as an error and a running one as busy', () => {
    const failed = mount(ToolCallCard, { props: { tool: { id: 'c', name: 'sql_query', arguments: {}, result: 'timeout', error: true } } })
    expect(failed.text()).toContain('failed')
    const running = mount(ToolCallCard, { props: { tool: { id: 'c', name: 'sql_query', arguments: {}, error: false }, running: true } })
    expect(running.find('[role="status"]').text()).toBe('Running')
  })
})
