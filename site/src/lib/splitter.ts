/** The bar between the lesson and the terminal: drag it, or focus it and use the arrow keys. */
const page = document.querySelector<HTMLElement>('.lesson-page');
const bar = page?.querySelector<HTMLElement>('.splitter');

import { readStored, writeStored } from './stored.ts';

const KEY = 'cdl-split';

function set(percent: number): void {
  const value = Math.min(80, Math.max(20, percent));
  page?.style.setProperty('--split', `${value}%`);
  bar?.setAttribute('aria-valuenow', String(Math.round(value)));
  writeStored(KEY, String(value));
}

if (page && bar) {
  bar.setAttribute('aria-valuemin', '20');
  bar.setAttribute('aria-valuemax', '80');
  set(Number(readStored(KEY) ?? 50));
  bar.addEventListener('pointerdown', (down) => {
    bar.setPointerCapture(down.pointerId);
    const move = (event: PointerEvent) => set((event.clientX / page.clientWidth) * 100);
    bar.addEventListener('pointermove', move);
    bar.addEventListener('pointerup', () => bar.removeEventListener('pointermove', move), { once: true });
  });
  bar.addEventListener('keydown', (event) => {
    const now = Number(bar.getAttribute('aria-valuenow'));
    if (event.key === 'ArrowLeft') set(now - 5);
    else if (event.key === 'ArrowRight') set(now + 5);
    else return;
    event.preventDefault();
  });
}
