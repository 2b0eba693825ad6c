// The build goes to dist/, which the Rust crate embeds. Relative asset paths, no source maps,
// content-hashed names: the same sources give the same bytes (CI rebuilds and compares).
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    target: 'es2022',
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 1500,
  },
});
