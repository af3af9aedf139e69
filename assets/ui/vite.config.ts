/// <reference types="vitest/config" />
import { fileURLToPath, URL } from 'node:url'
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'
import { precompress } from './build/precompress.ts'

// `npm run dev` proxies every platform path to a running agentbox; the UI itself is served by
// Vite with hot reload. agentbox serves TLS by default: run it with `--tls off` for this.
const target = process.env.AGENTBOX_URL ?? 'http://127.0.0.1:8443'
const platformPaths = ['/api', '/v1', '/mcp', '/health', '/ready', '/metrics']

export default defineConfig({
  plugins: [vue(), precompress()],
  resolve: {
    alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) },
  },
  server: {
    host: '127.0.0.1',
    proxy: Object.fromEntries(platformPaths.map((path) => [path, { target, changeOrigin: true }])),
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Hashed names under assets/ are cached for a year by the binary; index.html never is.
    assetsDir: 'assets',
    sourcemap: false,
    target: 'es2022',
    reportCompressedSize: false,
    rolldownOptions: {
      output: {
        // Three long-lived chunks instead of dozens of tiny ones: the framework, the design
        // system, and the markdown renderer (only pages that show answers load it).
        codeSplitting: {
          groups: [
            { name: 'markdown', test: /node_modules[\\/](markdown-it|dompurify|highlight\.js|linkify-it|mdurl|uc\.micro|entities|punycode)[\\/]/ },
            { name: 'vendor', test: /node_modules[\\/](vue|@vue|vue-router|pinia|openapi-fetch)[\\/]/ },
            { name: 'ui', test: /src[\\/]components[\\/]ui[\\/]/ },
          ],
        },
      },
    },
  },
  test: {
    environment: 'jsdom',
    include: ['src/**/*.test.ts'],
    restoreMocks: true,
  },
})
