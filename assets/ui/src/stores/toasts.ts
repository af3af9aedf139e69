import { defineStore } from 'pinia'
import { ref } from 'vue'

export type ToastTone = 'success' | 'danger' | 'info'

export interface Toast {
  id: number
  tone: ToastTone
  message: string
}

/** Short notices in a corner; errors stay longer than confirmations. */
export const useToasts = defineStore('toasts', () => {
  const items = ref<Toast[]>([])
  let next = 1

  function dismiss(id: number) {
    items.value = items.value.filter((toast) => toast.id !== id)
  }

  function push(tone: ToastTone, message: string) {
    const id = next++
    items.value = [...items.value.slice(-3), { id, tone, message }]
    setTimeout(() => dismiss(id), tone === 'danger' ? 8000 : 4000)
    return id
  }

  return {
    items,
    dismiss,
    success: (message: string) => push('success', message),
    error: (message: string) => push('danger', message),
    info: (message: string) => push('info', message),
  }
})
