// A telephone number as it is typed: shown grouped ("+44 123 456 7890"), sent
// bare ("+441234567890", E.164). Pure; no table of every country's plan, only
// the length of each country code, so the groups after it are the same
// everywhere: threes, the last of up to four digits.

/** E.164: at most 15 digits, the country code included. */
export const MAX_DIGITS = 15;

// Country codes of one or two digits (ITU-T E.164 assignments); every other code has three.
const ONE_DIGIT = new Set(["1", "7"]);
const TWO_DIGITS = new Set(
  (
    "20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 " +
    "60 61 62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98"
  ).split(" "),
);

/** Whether the text is a telephone number being typed (a "+" first, then digits and grouping only). */
export function looksLikeNumber(text: string): boolean {
  return /^\+[\d\s().-]*$/.test(text.trim());
}

/** The number as sent: "+" and its digits. */
export function bareNumber(text: string): string {
  return `+${text.replace(/\D/g, "")}`;
}

function countryCodeLength(digits: string): number {
  if (ONE_DIGIT.has(digits.slice(0, 1))) return 1;
  if (TWO_DIGITS.has(digits.slice(0, 2))) return 2;
  return 3;
}

/** "+441234567890" -> "+44 123 456 7890"; a name, or anything else, is left as typed. */
export function formatNumber(text: string): string {
  if (!looksLikeNumber(text)) return text;
  const digits = text.replace(/\D/g, "");
  if (digits === "") return text.trim();
  const code = countryCodeLength(digits);
  const groups = [digits.slice(0, code)];
  let rest = digits.slice(code);
  while (rest.length > 4) {
    groups.push(rest.slice(0, 3));
    rest = rest.slice(3);
  }
  if (rest !== "") groups.push(rest);
  return `+${groups.join(" ")}`;
}

/** What is wrong with a number being typed, in people's words; null when nothing (yet) is. */
export function numberProblem(text: string): string | null {
  if (!looksLikeNumber(text)) return null;
  const count = text.replace(/\D/g, "").length;
  return count > MAX_DIGITS ? `That number has ${count} digits: a phone number has at most ${MAX_DIGITS}` : null;
}
