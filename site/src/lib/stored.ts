/**
 * What the page keeps in the browser (the split, the tabs, the editor's
 * text, the screen reader mode). Storage may be refused (a private window,
 * a full quota): then nothing is read and a choice lasts for the page.
 */
export function readStored(key: string): string | undefined {
  try {
    return localStorage.getItem(key) ?? undefined;
  } catch {
    return undefined;
  }
}

export function writeStored(key: string, value: string): void {
  try {
    localStorage.setItem(key, value);
  } catch {
    // refused: the choice lasts for this page
  }
}
