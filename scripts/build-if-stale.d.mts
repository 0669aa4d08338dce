/** The repository's root folder. */
export const root: string;
/** Builds out/ with electron-vite when it is missing or older than its inputs; false when the build failed. */
export function buildIfStale(): boolean;
