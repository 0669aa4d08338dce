/** Keyboard moves in a list whose disabled options can't be picked, so the focus never stops on one. */

/**
 * The index a key moves the focus to, from `at` (-1: no option has it): ArrowDown/ArrowUp to the
 * next/previous enabled option, Home/End to the first/last one. null: stay (no enabled option
 * that way, or not a moving key).
 */
export function moveFocus(disabled: readonly boolean[], at: number, key: string): number | null {
  const scan = (from: number, step: 1 | -1): number | null => {
    for (let i = from; i >= 0 && i < disabled.length; i += step) if (!disabled[i]) return i;
    return null;
  };
  switch (key) {
    case 'ArrowDown':
      return scan(at + 1, 1);
    case 'ArrowUp':
      return at < 0 ? scan(0, 1) : scan(at - 1, -1);
    case 'Home':
      return scan(0, 1);
    case 'End':
      return scan(disabled.length - 1, -1);
    default:
      return null;
  }
}
