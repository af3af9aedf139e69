// Writes `<file>.gz` and `<file>.br` beside every compressible build output, so the binary can
// serve the smaller one per Accept-Encoding without compressing on every request. Node's zlib
// does both at their highest levels; no plugin dependency is needed for that.
import { brotliCompressSync, constants, gzipSync } from 'node:zlib'
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Plugin } from 'vite'

const COMPRESSIBLE = /\.(js|mjs|css|html|svg|json|txt|map|webmanifest)$/
// Below this, the headers cost more than the bytes saved.
const MIN_BYTES = 512

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? files(path) : [path]
  })
}

export function precompress(): Plugin {
  let outDir = 'dist'
  return {
    name: 'agentbox-precompress',
    apply: 'build',
    configResolved(config) {
      outDir = config.build.outDir.startsWith('/') ? config.build.outDir : join(config.root, config.build.outDir)
    },
    closeBundle() {
      for (const path of files(outDir)) {
        if (!COMPRESSIBLE.test(path)) continue
        const body = readFileSync(path)
        if (body.length < MIN_BYTES) continue
        const gzip = gzipSync(body, { level: 9 })
        const brotli = brotliCompressSync(body, {
          params: {
            [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
            [constants.BROTLI_PARAM_SIZE_HINT]: body.length,
          },
        })
        // A variant that saves nothing is not worth serving.
        if (gzip.length < body.length) writeFileSync(`${path}.gz`, gzip)
        if (brotli.length < body.length) writeFileSync(`${path}.br`, brotli)
      }
    },
  }
}
