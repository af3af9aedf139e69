// ESLint: the recommended Vue 3 rules and typescript-eslint's, through Vue's own TS config.
import pluginVue from 'eslint-plugin-vue'
import { defineConfigWithVueTs, vueTsConfigs } from '@vue/eslint-config-typescript'

export default defineConfigWithVueTs(
  { name: 'agentbox/ignores', ignores: ['dist/**', 'node_modules/**', 'src/api/schema.d.ts', 'e2e/screenshots/**'] },
  pluginVue.configs['flat/recommended'],
  vueTsConfigs.recommended,
  {
    name: 'agentbox/rules',
    rules: {
      // Formatting is left to the editor; these rules are about correctness.
      'vue/max-attributes-per-line': 'off',
      'vue/singleline-html-element-content-newline': 'off',
      'vue/multiline-html-element-content-newline': 'off',
      'vue/html-self-closing': 'off',
      'vue/html-indent': 'off',
      'vue/html-closing-bracket-newline': 'off',
      'vue/attributes-order': 'off',
      'vue/require-default-prop': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', caughtErrors: 'none' }],
      eqeqeq: ['error', 'always'],
      'no-console': ['error', { allow: ['warn', 'error'] }],
    },
  },
  {
    name: 'agentbox/node-scripts',
    files: ['e2e/**/*.mjs'],
    rules: { 'no-console': 'off' },
  },
)
