/**
 * Compares an object with the shape it should have. Only what the expected
 * shape names is compared: extra fields in the actual object are fine. An
 * expected array is a set of items each of which some actual item must
 * match. Each difference comes back as a path with the expected and actual
 * values side by side, for the learner to read.
 */
export interface Difference {
  path: string;
  expected: unknown;
  actual: unknown;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

export function differences(expected: unknown, actual: unknown, path = ''): Difference[] {
  if (isObject(expected)) {
    if (!isObject(actual)) return [{ path: path || '.', expected, actual }];
    return Object.entries(expected).flatMap(([key, value]) => differences(value, actual[key], join(path, key)));
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return [{ path: path || '.', expected, actual }];
    return expected
      .filter((item) => !actual.some((candidate) => differences(item, candidate).length === 0))
      .map((item) => ({ path: `${path}[]`, expected: item, actual }));
  }
  return Object.is(expected, actual) ? [] : [{ path: path || '.', expected, actual }];
}

/** Whether `actual` has the shape of `expected`. */
export function matches(expected: unknown, actual: unknown): boolean {
  return differences(expected, actual).length === 0;
}
