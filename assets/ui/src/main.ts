import { createApp } from 'vue'
import { createPinia } from 'pinia'
import App from './App.vue'
import { createAppRouter } from './router'
import { useTheme } from './stores/theme'
import './styles/tokens.css'
import './styles/base.css'

const app = createApp(App)
const pinia = createPinia()
app.use(pinia)
// Apply the theme before the first paint of the app.
useTheme(pinia)
app.use(createAppRouter())
app.mount('#app')
