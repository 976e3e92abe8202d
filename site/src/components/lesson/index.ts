// What lesson authors import: `import { Check, Hint, LabControls, Run, Solution } from '@lesson';`
export { default as Check } from './Check.astro';
export { default as Edit } from './Edit.astro';
export { default as Hint } from './Hint.astro';
export { default as LabControls } from './LabControls.astro';
export { default as Run } from './Run.astro';
export { default as Solution } from './Solution.astro';
