// Which names Talkbox accepts (the server's rule for `client_name`), and what
// to tell a person whose name it would refuse. Pure.

/** The rule, in the words the sign-in form shows. */
export const NAME_RULE = "letters, digits, dots (.), dashes (-) and underscores (_), up to 64 characters";

const MAX_NAME = 64;
const ALLOWED = /^[A-Za-z0-9._-]+$/;

/** What is wrong with `name` as a Talkbox name, in people's words; null when nothing is. */
export function nameProblem(name: string): string | null {
  if (name === "") return "Type a name: it is what others type to call you";
  if (name.length > MAX_NAME) return `That name has ${name.length} characters: use at most ${MAX_NAME}`;
  if (ALLOWED.test(name)) return null;
  const bad = [...new Set(name.replace(/[A-Za-z0-9._-]/g, ""))].map(describeCharacter);
  return `A name cannot contain ${listOf(bad)}: use only ${NAME_RULE}`;
}

function describeCharacter(character: string): string {
  if (character === " ") return "spaces";
  return /\s/.test(character) ? "tabs or line breaks" : `“${character}”`;
}

/** ["a"] -> "a"; ["a", "b"] -> "a and b"; ["a", "b", "c"] -> "a, b and c". */
export function listOf(items: readonly string[]): string {
  if (items.length <= 1) return items[0] ?? "";
  return `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}
