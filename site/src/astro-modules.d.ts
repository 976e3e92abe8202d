/** `.astro` components imported from TypeScript (inside `.astro` files the Astro compiler types them). */
declare module '*.astro' {
  import type { AstroComponentFactory } from 'astro/runtime/server/index.js';

  const component: AstroComponentFactory;
  export default component;
}
