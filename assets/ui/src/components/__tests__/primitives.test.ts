import { describe, expect, it } from 'vitest'
import { mount } from '@vue/test-utils'
import { defineComponent, h, ref } from 'vue'
import UiButton from '@/components/ui/UiButton.vue'
import UiChoiceList from '@/components/ui/UiChoiceList.vue'
import UiInput from '@/components/ui/UiInput.vue'
import UiSegmented from '@/components/ui/UiSegmented.vue'
import UiTable from '@/components/ui/UiTable.vue'
import LineChart from '@/components/charts/LineChart.vue'

describe('UiButton', () => {
  it('names an icon-only button and is busy while loading', () => {
    const wrapper = mount(UiButton, { props: { icon: 'trash', label: 'Delete key', loading: true } })
    const button = wrapper.get('button')
    expect(button.attributes('aria-label')).toBe('Delete key')
    expect(button.attributes('aria-busy')).toBe('true')
    expect(button.attributes('disabled')).toBeDefined()
  })
})

describe('UiInput', () => {
  it('ties its label and error to the control', async () => {
    const wrapper = mount(UiInput, { props: { label: 'Email', error: 'Not an email', modelValue: 'x' } })
    const input = wrapper.get('input')
    const label = wrapper.get('label')
    expect(label.attributes('for')).toBe(input.attributes('id'))
    expect(input.attributes('aria-invalid')).toBe('true')
    expect(wrapper.get(`#${input.attributes('aria-describedby')}`).text()).toBe('Not an email')
    await input.setValue('ada@example.com')
    expect(wrapper.emitted('update:modelValue')?.[0]).toEqual(['ada@example.com'])
  })
})

describe('UiSegmented', () => {
  it('is a radio group that arrow keys move through', async () => {
    const Host = defineComponent({
      setup() {
        const value = ref<'a' | 'b' | 'c'>('a')
        const options = [
          { value: 'a', label: 'A' },
          { value: 'b', label: 'B' },
          { value: 'c', label: 'C' },
        ] as const
        return () => [h(UiSegmented, { label: 'Pick', options, modelValue: value.value, 'onUpdate:modelValue': (v: string) => (value.value = v as 'a' | 'b' | 'c') }), h('p', value.value)]
      },
    })
    const wrapper = mount(Host, { attachTo: document.body })
    const radios = wrapper.findAll('[role="radio"]')
    expect(radios.map((r) => r.attributes('aria-checked'))).toEqual(['true', 'false', 'false'])
    await radios[0]?.trigger('keydown', { key: 'ArrowLeft' })
    expect(wrapper.get('p').text()).toBe('c')
    wrapper.unmount()
  })
})

describe('UiChoiceList', () => {
  it('is a named group of native radios, one checked', async () => {
    const options = [
      { value: 'a', label: 'Join A', badge: 'Sample data', description: 'Has data' },
      { value: 'b', label: 'Start a new company' },
    ]
    const wrapper = mount(UiChoiceList, { props: { label: 'Company', options, modelValue: 'a' } })
    expect(wrapper.get('legend').text()).toBe('Company')
    const radios = wrapper.findAll<HTMLInputElement>('input[type="radio"]')
    expect(radios.map((r) => r.element.checked)).toEqual([true, false])
    expect(new Set(radios.map((r) => r.attributes('name'))).size).toBe(1)
    expect(wrapper.findAll('label')[0]?.text()).toContain('Sample data')
    await radios[1]?.setValue(true)
    expect(wrapper.emitted('update:modelValue')?.[0]).toEqual(['b'])
  })
})

describe('UiTable', () => {
  it('labels every cell for the phone layout and shows the empty slot', () => {
    const columns = [
      { key: 'name', label: 'Name' },
      { key: 'n', label: 'Count', align: 'right' as const },
    ]
    const filled = mount(UiTable, {
      props: { columns, rows: [{ id: '1', name: 'alpha', n: 3 }], rowKey: (r: unknown) => (r as { id: string }).id, caption: 'Things' },
    })
    expect(filled.findAll('td').map((td) => td.attributes('data-label'))).toEqual(['Name', 'Count'])
    expect(filled.get('caption').text()).toBe('Things')
    const empty = mount(UiTable, {
      props: { columns, rows: [], rowKey: (r: unknown) => (r as { id: string }).id, caption: 'Things' },
      slots: { empty: 'Nothing yet' },
    })
    expect(empty.text()).toContain('Nothing yet')
  })
})

describe('LineChart', () => {
  it('draws a path per series and carries the data in a table for screen readers', () => {
    const wrapper = mount(LineChart, {
      props: {
        title: 'Revenue',
        labels: ['Jan', 'Feb', 'Mar'],
        series: [
          { name: 'Actual', values: [1, 2, 3] },
          { name: 'Target', values: [2, 2, null], dashed: true },
        ],
      },
    })
    const paths = wrapper.findAll('path.line')
    expect(paths).toHaveLength(2)
    expect(paths[1]?.attributes('stroke-dasharray')).toBe('5 4')
    const rows = wrapper.findAll('tbody tr').map((tr) => tr.text())
    expect(rows).toEqual(['Jan12', 'Feb22', 'Mar3—'])
  })
})

describe('UiInput of type number', () => {
  it('keeps its value a string, as its model says', async () => {
    const wrapper = mount(UiInput, { props: { label: 'Max steps', type: 'number', modelValue: '8' } })
    await wrapper.get('input').setValue('3')
    expect(wrapper.emitted('update:modelValue')?.[0]).toEqual(['3'])
  })
})
