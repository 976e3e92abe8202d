/**
 * How strong an event's access code is. The code is read aloud and typed
 * from a slide, so it is compared without spaces, dashes or case; its
 * strength is judged on that same normalised form. Joining is rate-limited
 * per address (http/client-limits.ts), and these bits are what make those
 * limits enough: at 36 bits, a thousand addresses each making the wrong
 * attempts allowed for a whole day have about one chance in 80,000.
 */

/** The weakest code a server accepts from `CDL_ACCESS_CODE`. */
export const MIN_ACCESS_CODE_BITS = 36;

/** The form codes are compared in: no whitespace or dashes, upper case. */
export function normaliseAccessCode(code: string): string {
  return code.replace(/[\s-]/g, '').toUpperCase();
}

/**
 * An estimate of a code's entropy in bits: after normalisation, its length
 * times log2 of the size of the character classes it uses (26 letters, 10
 * digits, 33 other symbols), where each distinct character counts at most
 * twice (so `AAAAAAAA` or `ABABABAB` score as the short codes they are).
 * It cannot see a word or a date; it only refuses codes that are too short
 * or too repetitive for any guesser to need one.
 */
export function accessCodeBits(code: string): number {
  const chars = [...normaliseAccessCode(code)];
  if (chars.length === 0) return 0;
  const letters = chars.some((c) => /\p{L}/u.test(c)) ? 26 : 0;
  const digits = chars.some((c) => /\p{N}/u.test(c)) ? 10 : 0;
  const others = chars.some((c) => !/[\p{L}\p{N}]/u.test(c)) ? 33 : 0;
  const length = Math.min(chars.length, 2 * new Set(chars).size);
  return length * Math.log2(letters + digits + others);
}

/** Why a code is too weak, naming the rule; undefined when it is strong enough. */
export function weakAccessCode(code: string): string | undefined {
  const bits = accessCodeBits(code);
  if (bits >= MIN_ACCESS_CODE_BITS) return undefined;
  return (
    `the access code is too easy to guess: about ${Math.floor(bits)} bits, and at least ${MIN_ACCESS_CODE_BITS} are needed ` +
    '(estimated without spaces, dashes or case, as its length times log2 of the character classes it uses: ' +
    '26 letters, 10 digits, 33 other symbols; each distinct character counts at most twice). ' +
    'Use 8 or more letters and digits, such as KUBE-7Q2X, or leave CDL_ACCESS_CODE unset to have one generated'
  );
}
