/** `NAME=value` (or `Name: value`) lines as an object; blank lines are skipped. */
export function parsePairs(text: string, separator: '=' | ':'): Record<string, string> {
  const pairs: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const at = line.indexOf(separator)
    if (at <= 0) continue
    pairs[line.slice(0, at).trim()] = line.slice(at + 1).trim()
  }
  return pairs
}
