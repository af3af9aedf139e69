// Starts the real agentbox binary for the end-to-end run: a fresh data folder with the test
// model imported as the `reasoning` model (the analyst's), sample KPIs, plain HTTP on a free
// loopback port. Stops it again, and shows its log when something went wrong.
import { spawn, execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer as createHttpServer } from 'node:http'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address()
      probe.close(() => resolve(port))
    })
  })
}

async function waitReady(url, child, seconds) {
  const deadline = Date.now() + seconds * 1000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`agentbox exited with ${child.exitCode} while starting`)
    try {
      const response = await fetch(`${url}/ready`)
      if (response.ok) return
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 250))
  }
  throw new Error(`agentbox was not ready after ${seconds} s`)
}

/**
 * Serves the freshly built `dist/` with `vite preview`, proxying the API to `apiUrl`: the run
 * then checks UI changes without rebuilding the binary (E2E_VITE_PREVIEW=1; timings are Vite's).
 */
export async function startPreview(apiUrl) {
  const port = await freePort()
  const child = spawn('npx', ['vite', 'preview', '--host', '127.0.0.1', '--port', String(port), '--strictPort'], {
    env: { ...process.env, AGENTBOX_URL: apiUrl },
    stdio: ['ignore', 'ignore', 'inherit'],
  })
  const url = `http://127.0.0.1:${port}`
  await waitReady(url, child, 60)
  return { url, stop: () => child.kill('SIGTERM') }
}

/**
 * A download source on loopback for the pull test. It serves the test model with 1 MiB of
 * zeros after it (another sha256, so the catalog entry is not taken for the imported model)
 * at about 25 MB/s, so the progress bar has a few seconds to show.
 */
async function startModelSource(model) {
  const payload = Buffer.concat([readFileSync(model), Buffer.alloc(1 << 20)])
  const port = await freePort()
  const server = createHttpServer((request, response) => {
    response.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': payload.length })
    let offset = 0
    const send = () => {
      if (request.destroyed || offset >= payload.length) return response.end()
      response.write(payload.subarray(offset, offset + (1 << 20)))
      offset += 1 << 20
      setTimeout(send, 40)
    }
    send()
  })
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${port}/e2e-pull.gguf`,
    sha256: createHash('sha256').update(payload).digest('hex'),
    size: payload.length,
    stop: () => server.close(),
  }
}

/** A catalog with one model, `e2e-pull`, downloaded from the loopback source. */
function writeCatalog(dataDir, source) {
  const path = join(dataDir, 'models.toml')
  writeFileSync(
    path,
    [
      '[[model]]',
      'name = "e2e-pull"',
      'role = "code"',
      `source = "${source.url}"`,
      'file = "e2e-pull.gguf"',
      `sha256 = "${source.sha256}"`,
      `size_bytes = ${source.size}`,
      'context_size = 2048',
      '',
    ].join('\n'),
  )
  return path
}

export async function startAgentbox({ binary, model }) {
  const dataDir = mkdtempSync(join(tmpdir(), 'agentbox-e2e-'))
  const env = {
    ...process.env,
    AGENTBOX_DATA_DIR: dataDir,
    AGENTBOX_MODELS_AUTO_PULL: 'false',
    AGENTBOX_EMBEDDINGS_MODEL: 'off',
    // Two cores: llama.cpp's threads busy-wait, one sequence at a time keeps the run steady.
    AGENTBOX_ENGINE_THREADS: '2',
    AGENTBOX_ENGINE_SLOTS: '1',
    AGENTBOX_ENGINE_CONTEXT_PER_SLOT: '4096',
    AGENTBOX_AGENTS_MAX_TOKENS: '256',
    AGENTBOX_TASKS_CONCURRENCY: '1',
    AGENTBOX_LOG_FORMAT: 'json',
  }
  execFileSync(binary, ['models', 'import', model, '--role', 'reasoning'], { env, stdio: ['ignore', 'ignore', 'inherit'] })
  const source = await startModelSource(model)
  env.AGENTBOX_MODELS_FILE = writeCatalog(dataDir, source)
  const port = await freePort()
  const url = `http://127.0.0.1:${port}`
  const logPath = join(dataDir, 'agentbox.log')
  const log = openSync(logPath, 'a')
  const child = spawn(
    binary,
    ['serve', '--tls', 'off', '--listen', `127.0.0.1:${port}`, '--http-listen', 'off', '--sample-data'],
    { env, cwd: dataDir, stdio: ['ignore', log, log] },
  )
  try {
    await waitReady(url, child, 120)
  } catch (error) {
    child.kill('SIGTERM')
    source.stop()
    throw new Error(`${error.message}\n${readFileSync(logPath, 'utf8').slice(-4000)}`)
  }
  return {
    url,
    logTail: () => readFileSync(logPath, 'utf8').slice(-6000),
    async stop({ keep = false } = {}) {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve))
        child.kill('SIGTERM')
        await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 15000))])
        if (child.exitCode === null) child.kill('SIGKILL')
      }
      source.stop()
      if (!keep) rmSync(dataDir, { recursive: true, force: true })
      return dataDir
    },
  }
}
