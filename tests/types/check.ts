// Exact type checks for the type tests: `same<A, B>(true)` compiles only when A and B are the
// same type (not merely assignable one way), so a detail that gains, loses or widens a field
// fails the check.
export type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
export function same<A, B>(_: Equal<A, B>): void {}
