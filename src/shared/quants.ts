/**
 * What the "Add model" flow shows for a Hub repository (downloads-spec section 5, G39): its GGUF
 * files grouped by quantization, each with a fits/tight/too-big verdict against this machine's
 * free memory (RAM, plus VRAM when a GPU is known) and disk, and the quantization picked by
 * default. Pure, so the core's API and the GUI say the same.
 */

export interface HubModel {
  id: string;
  downloads: number;
}

export interface HubFile {
  path: string;
  size: number;
  /** The LFS sha256, when the Hub stores the file in LFS. */
  sha256: string | null;
}

export interface QuantGroup {
  /** `Q4_K_M`, `F16`...; the file name's stem when no quantization is recognised. */
  quant: string;
  /** All parts of a split model, first part first. */
  files: HubFile[];
  sizeBytes: number;
  /** Multimodal projector (an add-on, not a model of its own). */
  mmproj: boolean;
}

export type Fit = 'fits' | 'tight' | 'too_big';

/** The room a download has on this machine. */
export interface Room {
  /** Free system memory. */
  memoryBytes: number;
  /** Free space of the models folder, less `download_reserve`. */
  diskBytes: number;
  /** Free VRAM of discrete GPUs (a model's layers can sit there instead of RAM); absent: none known. */
  vramBytes?: number;
}

/** `hubFiles`' answer: the repository's files, its GGUFs by quantization with a verdict, the default pick. */
export interface HubRepoFiles {
  repo: string;
  files: HubFile[];
  groups: (QuantGroup & { fit: Fit })[];
  defaultQuant: string | null;
  room: Room;
}

/** Memory a model of this file size needs loaded: the weights plus about 10 % for context and buffers. */
export const memoryNeed = (sizeBytes: number) => sizeBytes * 1.1;

/**
 * Whether a quantization fits (G39): the file on the disk, and its memory in free RAM + VRAM;
 * "tight" when it takes more than 80 % of either.
 */
export function fitOf(sizeBytes: number, room: Room): Fit {
  const memory = room.memoryBytes + (room.vramBytes ?? 0);
  const need = memoryNeed(sizeBytes);
  if (sizeBytes > room.diskBytes || need > memory) return 'too_big';
  if (sizeBytes > room.diskBytes * 0.8 || need > memory * 0.8) return 'tight';
  return 'fits';
}

/** The default pick: Q4_K_M if it fits in `budgetBytes`, else the largest that fits, else null. */
export function defaultQuant<G extends QuantGroup>(groups: G[], budgetBytes: number): G | null {
  const models = groups.filter((g) => !g.mmproj);
  const fits = models.filter((g) => g.sizeBytes <= budgetBytes);
  return fits.find((g) => g.quant === 'Q4_K_M') ?? fits.sort((a, b) => b.sizeBytes - a.sizeBytes)[0] ?? null;
}

/** The largest file that is not too big for `room`: the budget `defaultQuant` picks within. */
export function budgetOf(room: Room): number {
  return Math.min(room.diskBytes, (room.memoryBytes + (room.vramBytes ?? 0)) / 1.1);
}
