// Compiled (not run) by the packaging test in an app without axios: the package's axios
// augmentation must not break it (tsc --strict, no skipLibCheck). This line pins that axios is
// really absent there: were it installed, the @ts-expect-error would be unused, an error.
// @ts-expect-error axios is not installed in this app
import type {} from "axios";
export {};
