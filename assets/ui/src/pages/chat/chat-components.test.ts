import { describe, expect, it } from 'vitest'
import { mount } from '@vue/test-utils'
import { createPinia, setActivePinia } from 'pinia'
import ChatComposer from './ChatComposer.vue'
import RatingControl from './RatingControl.vue'

describe('ChatComposer', () => {
  it('sends on Enter, keeps Shift+Enter for new lines, and offers Stop while streaming', async () => {
    const wrapper = mount(ChatComposer, { props: { streaming: false } })
    const input = wrapper.get('textarea')
    await input.setValue('hello')
    await input.trigger('keydown', { key: 'Enter', shiftKey: true })
    expect(wrapper.emitted('send')).toBeUndefined()
    await input.trigger('keydown', { key: 'Enter' })
    expect(wrapper.emitted('send')?.[0]).toEqual(['hello'])
    expect((input.element as HTMLTextAreaElement).value).toBe('')

    await wrapper.setProps({ streaming: true })
    const stop = wrapper.findAll('button').find((b) => b.text() === 'Stop')
    await stop?.trigger('click')
    expect(wrapper.emitted('stop')).toHaveLength(1)
  })
})

describe('RatingControl', () => {
  it('rates, asks for a comment, and clears a second click', async () => {
    setActivePinia(createPinia())
    const wrapper = mount(RatingControl, { props: { rating: null, comment: null } })
    const up = wrapper.get('[aria-label="Good answer"]')
    expect(up.attributes('aria-pressed')).toBe('false')
    await up.trigger('click')
    expect(wrapper.emitted('rate')?.[0]).toEqual(['up', undefined])
    expect(wrapper.find('input').exists()).toBe(true)

    await wrapper.setProps({ rating: 1 })
    await wrapper.get('input').setValue('precise')
    await wrapper.get('form').trigger('submit')
    expect(wrapper.emitted('rate')?.[1]).toEqual(['up', 'precise'])

    await wrapper.get('[aria-label="Good answer"]').trigger('click')
    expect(wrapper.emitted('rate')?.[2]).toEqual([null, undefined])
  })
})
