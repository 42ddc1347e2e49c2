/** Types of build-ui.mjs, for the tests that build the dashboard into a directory of their own. */
export interface BuiltFile {
  /** Relative to the output directory: index.html, assets/app-<hash>.js, assets/app-<hash>.css. */
  file: string;
  bytes: number;
  gzipBytes: number;
}
export function buildUi(options?: { outDir?: string; quiet?: boolean }): Promise<BuiltFile[]>;
