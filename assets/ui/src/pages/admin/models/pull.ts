// A model download followed through POST /api/v1/models/{name}/pull's event stream.
import { postEvents } from '@/api/sse'

export interface PullProgress {
  done: number
  total: number | null
  rate: number
  eta_secs: number | null
}

export type PullOutcome = { ok: true; alreadyPresent: boolean } | { ok: false; message: string }

/** Follows one pull to its end, reporting progress; a second caller joins the same download. */
export async function pullModel(
  name: string,
  onProgress: (progress: PullProgress) => void,
  signal?: AbortSignal,
  allowUnverified = false,
): Promise<PullOutcome> {
  let outcome: PullOutcome = { ok: false, message: 'The download stream ended without a result. Start it again to resume.' }
  const query = allowUnverified ? '?allow_unverified=true' : ''
  await postEvents(
    `/api/v1/models/${encodeURIComponent(name)}/pull${query}`,
    undefined,
    (event, data) => {
      const payload = data as Record<string, unknown>
      if (event === 'progress') onProgress(payload as unknown as PullProgress)
      else if (event === 'done') outcome = { ok: true, alreadyPresent: payload.already_present === true }
      else if (event === 'error') outcome = { ok: false, message: String(payload.message ?? 'The download failed.') }
    },
    signal,
  )
  return outcome
}
