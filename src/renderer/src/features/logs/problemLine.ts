/**
 * Backends print their routine progress on stderr too (llama.cpp, the built-in backend's timing
 * lines), so only the stderr lines that read like trouble are shown in the error colour.
 */
const PROBLEM_RE = /\b(errors?|failed|failure|fatal|abort(ed)?|exception|panic|assert(ion)?|denied|cannot|can't|unable|killed|segmentation)\b|GGML_ASSERT/i;

export function isProblemLine(text: string): boolean {
  return PROBLEM_RE.test(text);
}
