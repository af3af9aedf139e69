import type { BadgeTone } from '@/components/ui/types'

export function statusTone(status: string): BadgeTone {
  switch (status) {
    case 'running':
      return 'info'
    case 'queued':
      return 'neutral'
    case 'succeeded':
      return 'success'
    case 'failed':
      return 'danger'
    case 'cancelled':
      return 'warning'
    default:
      return 'neutral'
  }
}
