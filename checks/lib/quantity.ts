/**
 * Kubernetes resource quantities as numbers, so a check compares `500m`
 * with `0.5` and `128Mi` with `134217728` as the API server would, rather
 * than as strings. Only what a check needs: parse, and say whether it is
 * more than nothing.
 */

const SUFFIXES: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

const QUANTITY = /^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(n|u|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?)$/;

/** The quantity's value in base units (cores, bytes); undefined when it is not a quantity. */
export function quantity(value: string | number | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'number') return value;
  const match = QUANTITY.exec(value.trim());
  if (!match) return undefined;
  const [, number = '', exponent, suffix = ''] = match;
  const base = Number.parseFloat(number);
  if (exponent) return base * 10 ** Number.parseInt(exponent.slice(1), 10);
  return base * (SUFFIXES[suffix] ?? 1);
}

/** Whether the quantity is set and more than zero. */
export function positive(value: string | number | undefined): boolean {
  const parsed = quantity(value);
  return parsed !== undefined && parsed > 0;
}
