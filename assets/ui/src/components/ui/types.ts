export type BadgeTone = 'neutral' | 'accent' | 'success' | 'warning' | 'danger' | 'info'

export interface Column {
  key: string
  label: string
  align?: 'left' | 'right'
  /** Hidden on phones (secondary detail). */
  wide?: boolean
}

/** One option of a UiChoiceList. */
export interface Choice<V extends string> {
  value: V
  label: string
  description?: string
  badge?: string
  badgeTone?: BadgeTone
}
