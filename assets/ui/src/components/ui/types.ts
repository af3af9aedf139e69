export type BadgeTone = 'neutral' | 'accent' | 'success' | 'warning' | 'danger' | 'info'

export interface Column {
  key: string
  label: string
  align?: 'left' | 'right'
  /** Hidden on phones (secondary detail). */
  wide?: boolean
}
