export interface LineSeries {
  name: string
  values: readonly (number | null)[]
  /** A CSS colour; defaults to the theme's chart colours in order. */
  color?: string
  dashed?: boolean
}

export interface BarRow {
  label: string
  values: readonly (number | null)[]
}
